"""Use cases combining domain logic and adapters, which they receive as arguments."""
