"""The sync engine: discovery, scheduling and workers. Independent of the CLI."""
