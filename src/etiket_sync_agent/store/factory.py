"""Choose and open the store configured for a home."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.store.config import StoreConfig
    from etiket_sync_agent.store.local import LocalStore

STORE_URL_ENV = "ETIKET_SYNC_STORE_URL"


def open_store(home: Home, config: StoreConfig | None = None) -> LocalStore:
    """The store configured for ``home`` (see :mod:`etiket_sync_agent.store.config`).

    The catalog is ``<home>/store/catalog.db`` or the configured database URL (e.g.
    ``postgresql+psycopg://user@host/db``, shared by a lab); the blobs are in
    ``<home>/store/blobs`` or, when a bucket is configured, in that S3 bucket (temp files
    and the ledger of unfinished uploads stay in ``<home>/store``). ``config`` defaults to
    the one in force (environment over ``store.json``).
    """
    from etiket_sync_agent.store.config import effective
    from etiket_sync_agent.store.local import LocalStore

    if config is None:
        config, _ = effective(home)
    config.check()
    blobs = None
    settings = config.s3_settings()
    if settings is not None:
        from etiket_sync_agent.store.s3 import S3BlobStorage

        blobs = S3BlobStorage(settings, home.store_dir)
    return LocalStore(home.store_dir, catalog_url=config.catalog_url, blobs=blobs)
