"""The agent's own state: sources, items, loop status and errors (SQLite by default)."""
