"""A converter that respects file locks, as HDF5-based converters do (h5py takes a
shared ``flock`` and fails at once while the acquisition program holds an exclusive one).
Registered through an entry point by the tests; converts like ``csv_to_netcdf``."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from etiket_sync_agent.converters.csv_to_netcdf import CsvToNetCDFConverter


class LockingCsvConverter(CsvToNetCDFConverter):
    def convert(self, input_path: Path, output_dir: Path) -> Path:
        fd = os.open(input_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # BlockingIOError while locked
            return super().convert(input_path, output_dir)
        finally:
            os.close(fd)
