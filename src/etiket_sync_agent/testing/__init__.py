"""Contract checks that plugin and store authors run in their own tests.

* Backends and converters (:mod:`.plugins`): subclass :class:`BackendContractTests` or
  :class:`ConverterContractTests`, or call the plain checks (:func:`check_backend_class`,
  :func:`check_converter_class`, :func:`check_entry_point`, :func:`run_backend_once`,
  :func:`run_converter`), which raise :class:`ContractError` listing every problem.
* Stores (:mod:`.store`): subclass :class:`StoreContractTests` (any
  :class:`~etiket_sync_agent.store.interface.DatasetStore`) or
  :class:`BlobStorageContractTests` (the catalog store over any
  :class:`~etiket_sync_agent.store.blob_interface.BlobStorage`) and provide a
  ``make_store`` fixture::

      import pytest
      from etiket_sync_agent.testing import StoreContractTests

      class TestMyStore(StoreContractTests):
          @pytest.fixture
          def make_store(self, tmp_path):
              return lambda: MyStore(tmp_path / "store")

Importing this package is cheap: pytest is imported only by the store suite (on first
use of its names) and by the plugin test classes' methods.
"""

from __future__ import annotations

from typing import Any

from etiket_sync_agent.testing.plugins import (
    BackendContractTests,
    ContractError,
    ConverterContractTests,
    backend_problems,
    check_backend_class,
    check_converter_class,
    check_entry_point,
    config_class_problems,
    converter_problems,
    run_backend_once,
    run_converter,
)

_STORE_SUITE = ("StoreContractTests", "BlobStorageContractTests")

__all__ = [
    "BackendContractTests",
    "BlobStorageContractTests",
    "ContractError",
    "ConverterContractTests",
    "StoreContractTests",
    "backend_problems",
    "check_backend_class",
    "check_converter_class",
    "check_entry_point",
    "config_class_problems",
    "converter_problems",
    "run_backend_once",
    "run_converter",
]


def __getattr__(name: str) -> Any:
    # the store suite defines pytest fixtures at class level: import it (and pytest) lazily
    if name in _STORE_SUITE:
        from etiket_sync_agent.testing import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
