"""Where datasets written with the native API live, and the names inside a dataset folder.

The native area is ``<agent home>/native`` (the home's data dir, see
:class:`etiket_sync_agent.home.Home`), or ``$ETIKET_SYNC_NATIVE_DIR``, or the ``directory``
a script passes. Each dataset is one folder in it holding its manifest, its measurement
files and the files added to it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

NATIVE_DIR_ENV = "ETIKET_SYNC_NATIVE_DIR"
#: the dataset's manifest (what it is, its state, its measurements and files)
MANIFEST_FILE = "_etiket_native.json"
#: held (flock) by the process writing the dataset: a second writer is refused
LOCK_FILE = ".etiket_native.lock"
RESERVED = frozenset({MANIFEST_FILE, LOCK_FILE})

#: measurement, file and variable names: plain names that are also safe file names
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,99}$")


def native_root(directory: str | os.PathLike[str] | None = None) -> Path:
    """The native area: ``directory``, else ``$ETIKET_SYNC_NATIVE_DIR``, else
    ``native`` in the agent home (``$ETIKET_SYNC_HOME`` or the platform's data dir)."""
    if directory is not None:
        return Path(directory).expanduser().resolve()
    env = os.environ.get(NATIVE_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    from etiket_sync_agent.home import Home

    return Home.resolve().data_dir / "native"


def check_name(what: str, name: object) -> str:
    """``name`` if it is text usable as a file name; ValueError naming ``what`` if not."""
    if not isinstance(name, str):
        raise ValueError(f"{what} must be text, got {type(name).__name__} {name!r}")
    if not _NAME.match(name) or name.endswith((".", " ")):
        raise ValueError(
            f"invalid {what} {name!r}: use letters, digits, spaces and '_', '-', '.', '+'"
            " (at most 100 characters, starting with a letter or digit)"
        )
    return name


def folder_slug(name: str) -> str:
    """A short file-name-safe form of a dataset name (for its folder)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40].strip("-")
    return slug or "dataset"
