"""sales-agent's shared package: config, domain (pure), services (use cases), adapters (I/O)."""
