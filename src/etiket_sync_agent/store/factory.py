"""Choose and open the store configured for a home."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.store.interface import DatasetStore

STORE_URL_ENV = "ETIKET_SYNC_STORE_URL"


def open_store(home: Home) -> DatasetStore:
    """The local store under ``home.store_dir``.

    ``$ETIKET_SYNC_STORE_URL`` (an SQLAlchemy URL such as
    ``postgresql+psycopg://user@host/db``) puts the catalog in a shared database while the
    blobs stay under the home's store folder.
    """
    from etiket_sync_agent.store.local import LocalStore

    return LocalStore(home.store_dir, catalog_url=os.environ.get(STORE_URL_ENV))
