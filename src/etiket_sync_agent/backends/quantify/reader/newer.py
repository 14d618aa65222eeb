"""Whether a newer measurement than a given TUID exists in the datadir.

MeasurementControl runs one measurement at a time, so once a newer measurement folder
exists the older one is finished. Asked often while a measurement is live, so folder
listings are cached by the folders' mtimes (a new entry changes its parent's mtime).
"""

from __future__ import annotations

import os
from pathlib import Path

from etiket_sync_agent.backends.quantify.reader.tuid import parse_folder_name


class NewerMeasurements:
    """``exists(root, tuid)``: is there a measurement folder with a later TUID?"""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, list[str]]] = {}

    def _names(self, folder: str) -> list[str]:
        try:
            mtime = os.stat(folder).st_mtime_ns
        except OSError:
            return []
        hit = self._cache.get(folder)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[folder] = (mtime, names)
        return names

    def exists(self, root: Path, tuid: str) -> bool:
        day = tuid[:8]
        for day_name in sorted(self._names(os.fspath(root)), reverse=True):
            if not (len(day_name) == 8 and day_name.isdigit()) or day_name < day:
                continue
            for name in self._names(os.path.join(root, day_name)):
                parsed = parse_folder_name(name)
                if parsed is not None and parsed[0] > tuid:
                    return True
        return False
