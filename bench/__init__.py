"""Benchmarks that print a table (`make bench`). Not run by `make test`: speed is measured,
never asserted in a test."""
