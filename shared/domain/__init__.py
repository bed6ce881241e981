"""Pure logic: no I/O, imports nothing of ours but `shared.domain`."""
