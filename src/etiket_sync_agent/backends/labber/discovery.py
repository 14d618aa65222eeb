"""Which files of a Labber data folder are logs (cheap: names only, no numpy/h5py).

Labber saves logs as ``<Database>/YYYY/MM/Data_MMDD/<log>.hdf5``: four levels below the
data folder, which is where the engine's level scan finds them (see the README for logs
saved elsewhere). Labber's own ``Database.hdf5`` index is not a log.
"""

from __future__ import annotations

#: depth of the logs below the data folder in Labber's dated layout
DATED_LAYOUT_DEPTH = 4
#: Labber's own database index in the data folder: not a log
DATABASE_FILE = "database.hdf5"


def is_log_candidate(name: str) -> bool:
    """``*.hdf5``, not hidden (``.``/``_``), not Labber's ``Database.hdf5``."""
    lower = name.lower()
    return lower.endswith(".hdf5") and lower != DATABASE_FILE and not name.startswith((".", "_"))
