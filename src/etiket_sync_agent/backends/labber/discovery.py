"""Which files of a Labber data folder are logs (cheap: names only, no numpy/h5py).

Labber saves logs as ``<Database>/YYYY/MM/Data_MMDD/<log>.hdf5``, but a user may save one
directly in any other subfolder, so the engine looks at every depth (``level = 0``: every
regular file in folders not starting with ``.`` or ``_``) and this filter picks the logs.
Labber's own ``Database.hdf5`` index is not a log.
"""

from __future__ import annotations

#: the engine's discovery level for Labber: single files at any depth
DISCOVERY_LEVEL = 0
#: Labber's own database index in the data folder: not a log
DATABASE_FILE = "database.hdf5"


def is_log_candidate(name: str) -> bool:
    """``*.hdf5``, not hidden (``.``/``_``), not Labber's ``Database.hdf5``."""
    lower = name.lower()
    return lower.endswith(".hdf5") and lower != DATABASE_FILE and not name.startswith((".", "_"))
