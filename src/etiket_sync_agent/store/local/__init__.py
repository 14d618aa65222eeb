"""The local store: a catalog database plus content-addressed blobs on disk.

The catalog is SQLite at ``root/catalog.db`` by default, or any SQLAlchemy URL (e.g. a
PostgreSQL database shared by several agents); blobs are always under ``root/blobs``.

Where things are:

* :mod:`.store` — :class:`LocalStore`, the ``DatasetStore`` implementation; each public
  method is a few lines calling the parts below;
* :mod:`.transactions` — opening the catalog (engine, migrations) and its read and write
  transactions, the content lock;
* :mod:`.scopes`, :mod:`.datasets` — their work inside a transaction;
* :mod:`.versioning` — what an upload means (new version, live replace, finalize,
  unchanged);
* :mod:`.gc` — deleting unreferenced blobs and crash leftovers;
* :mod:`.verify` — checking that the catalog and the blobs agree;
* :mod:`.lookups` — the queries and prepared statements; :mod:`.infos` — rows to the
  interface's dataclasses; :mod:`.validation` — checks of names and metadata.

Concurrency. Every public call is its own short transaction, so one store can be used by
several threads and several processes at once. Write transactions on SQLite start with
``BEGIN IMMEDIATE`` (writers queue on the database lock for up to 30 s instead of failing
with "database is locked"); reads take no lock (WAL). On PostgreSQL the file row is
locked ``FOR UPDATE`` and a race lost on a unique constraint is retried.

Content lifecycle. An upload first copies and hashes the source into a temp file outside
any transaction. Inside the write transaction it decides what the upload means and, if
the content is needed, places the blob (fsync + link) before the catalog row referring to
it is committed. A blob is deleted only when no file version refers to it: right after a
live version's content is replaced, and by :meth:`LocalStore.gc` (run at every agent
start, see :mod:`etiket_sync_agent.maintenance`, to remove what a killed process left:
blobs placed but never committed, replaced live content, temp files). Placing and
deleting a blob happen under the same lock (the SQLite write lock, or a PostgreSQL
advisory lock keyed by the sha256) as the reference check, so an upload that reuses
content can never lose it to a concurrent delete.
"""

from etiket_sync_agent.store.local.store import LocalStore

__all__ = ["LocalStore"]
