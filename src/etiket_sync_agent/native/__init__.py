"""Save measurements from any Python script; the agent's ``native`` backend syncs them.

::

    from etiket_sync_agent import native

    with native.dataset("Rabi q1", scope="my-project", tags=["rabi"]) as ds:
        with ds.measurement("rabi", coords={"amplitude": ("V", amps)},
                            data_vars={"I": "V", "Q": "V"}) as m:
            for a in amps:
                m.append(amplitude=a, I=..., Q=...)
        ds.add_file("notes.txt")
        ds.add_xarray("fit", fit_dataset)

Datasets go to the native area (``<agent home>/native``, ``$ETIKET_SYNC_NATIVE_DIR`` or
``directory=``), one folder each. Importing this module is cheap: numpy and h5py are
imported when a measurement starts, xarray only by ``add_xarray``.
"""

from etiket_sync_agent.native.dataset import (
    Dataset,
    DatasetBusyError,
    create_dataset,
    dataset,
    open_dataset,
)
from etiket_sync_agent.native.manifest import ManifestError, read_manifest
from etiket_sync_agent.native.paths import NATIVE_DIR_ENV, native_root

__all__ = [
    "NATIVE_DIR_ENV",
    "Dataset",
    "DatasetBusyError",
    "ManifestError",
    "create_dataset",
    "dataset",
    "native_root",
    "open_dataset",
    "read_manifest",
]
