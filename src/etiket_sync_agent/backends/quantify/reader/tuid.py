"""Quantify's TUID: ``YYYYmmDD-HHMMSS-fff-xxxxxx``, the identity of a measurement.

A measurement folder is named ``<TUID>`` or ``<TUID>-<name>``; a few folders in the wild
separate the name with a space instead (Quantify itself finds them by substring).
"""

from __future__ import annotations

import functools
from datetime import date, datetime


def parse_folder_name(name: str) -> tuple[str, str] | None:
    """``(tuid, folder suffix)`` of a measurement folder name, None if it holds no valid
    TUID (wrong shape or an impossible date/time). Cheap (string tests, no regex, no
    date parsing): it runs for every folder of every scan."""
    if len(name) < 26 or (len(name) > 26 and name[26] not in "- "):
        return None
    tuid = name[:26]
    if not (
        tuid[8] == "-"
        and tuid[15] == "-"
        and tuid[19] == "-"
        and tuid[:8].isdigit()
        and tuid[9:15].isdigit()
        and tuid[16:19].isdigit()
        and tuid[20:].isascii()
        and tuid[20:].isalnum()
        and tuid[:8].isascii()
        and tuid[9:19].isascii()
    ):
        return None
    if not _valid_day(tuid[:8]) or not _valid_time(tuid[9:15]):
        return None
    return tuid, name[27:].strip()


@functools.lru_cache(maxsize=4096)
def _valid_day(day: str) -> bool:
    try:
        date(int(day[:4]), int(day[4:6]), int(day[6:8]))
    except ValueError:
        return False
    return True


def _valid_time(hms: str) -> bool:
    return int(hms[:2]) < 24 and int(hms[2:4]) < 60 and int(hms[4:6]) < 60


def tuid_time(tuid: str) -> datetime | None:
    """The TUID's timestamp as an aware datetime in the local time zone of this PC (the
    TUID is the measurement PC's local wall-clock time, written without an offset)."""
    try:
        naive = datetime.strptime(tuid[:19], "%Y%m%d-%H%M%S-%f")
    except ValueError:
        return None
    return naive.astimezone()  # a naive datetime is taken as local time
