"""The database layer shared by the state database and the store catalog.

* :mod:`.engine` — the one SQLAlchemy engine factory (SQLite pragmas, read vs write
  transactions, "database is locked" and a damaged file turned into typed errors);
* :mod:`.migrate` — the one in-process Alembic runner (cheap check, lock, newer-revision
  refusal under the lock, WAL switched on race-free for a new SQLite file).

Alembic is imported only when a database actually needs migrating.
"""
