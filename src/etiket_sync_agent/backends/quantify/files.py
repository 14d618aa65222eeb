"""Which files of a measurement folder are synchronized, and under which names.

Every file is stored under its "/"-separated path relative to the measurement folder.
``dataset.hdf5`` and ``analysis_*/dataset_processed.hdf5`` are converted (gridded
NetCDF4); every other file is uploaded as it is. Hidden entries are skipped, and so are
symlinks leading out of the measurement folder: nothing outside it is ever read.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

from etiket_sync_agent.backends.folderbase.files import inside

DATASET_FILE = "dataset.hdf5"
PROCESSED_PATTERN = "analysis_*/dataset_processed.hdf5"


@dataclass(frozen=True)
class MeasurementFile:
    name: str  # relative, "/"-separated
    path: Path
    size: int
    mtime_ns: int

    @property
    def converted(self) -> bool:
        return is_dataset_file(self.name)

    @property
    def signature(self) -> list[int]:
        return [self.size, self.mtime_ns]


def is_dataset_file(rel: str) -> bool:
    return rel == DATASET_FILE or fnmatch.fnmatchcase(rel, PROCESSED_PATTERN)


def list_files(folder: Path) -> tuple[list[MeasurementFile], list[str]]:
    """The files to synchronize (sorted by name) and warnings about what was left out."""
    out: list[MeasurementFile] = []
    warnings: list[str] = []
    stack = [(folder, "")]
    while stack:
        current, prefix = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except FileNotFoundError:
            continue  # vanished meanwhile
        for e in entries:
            if e.name.startswith("."):
                continue
            rel = prefix + e.name
            p = Path(e.path)
            try:
                if e.is_symlink() and not inside(folder, p):
                    warnings.append(f"skipped {rel}: symlink points outside the measurement")
                    continue
                if e.is_dir():
                    stack.append((p, rel + "/"))
                elif e.is_file():
                    st = e.stat()
                    out.append(MeasurementFile(rel, p, st.st_size, st.st_mtime_ns))
            except FileNotFoundError:
                continue
    out.sort(key=lambda f: f.name)
    return out, warnings
