"""One module per outside system. Clients are built lazily, never at import time."""
