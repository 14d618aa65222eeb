"""What the CLI calls: one function per user action, returning plain data (no Rich)."""
