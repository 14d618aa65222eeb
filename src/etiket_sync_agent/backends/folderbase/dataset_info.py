"""The ``_QH_dataset_info.yaml`` file: read (safely, validated) and write.

Fields (all optional)::

    dataset_name: Rabi q1            # default: the folder name
    collected: 2026-11-23T10:00:00   # ISO time; default: the info file's mtime
    description: free text
    attributes: {sample: S12, set-up: fridge-2, power_dBm: -30}   # flat str/int/float/bool
    tags: [rabi, q1]
    converters: [csv_to_netcdf]      # registered converter names
    skip: ["*.tmp", "raw/*"]         # glob patterns (relative paths) not to upload
    thumbnails: [plots/*.png]        # paths/globs inside the dataset, at most 10
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import DatasetError
from etiket_sync_agent.plugins.base import DATASET_INFO_FILE

MAX_THUMBNAILS = 10
_KNOWN = {
    "dataset_name",
    "collected",
    "description",
    "attributes",
    "tags",
    "converters",
    "skip",
    "thumbnails",
}


@dataclass
class DatasetInfoFile:
    dataset_name: str
    collected: datetime
    description: str = ""
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    converters: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    thumbnails: list[str] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)


def _bad(path: Path, why: str) -> DatasetError:
    return DatasetError(
        f"invalid {DATASET_INFO_FILE} in {path.parent}: {why}",
        hint="fix the file; the dataset is synchronized again when it changes",
        retryable=False,
    )


def _str_list(path: Path, data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise _bad(path, f"'{key}' must be a list of strings")
    return [str(v) for v in value]


def _parse_time(path: Path, value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise _bad(path, f"'collected' is not an ISO time: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()  # naive times are the acquisition PC's local time
    return dt


def read_dataset_info(folder: Path) -> DatasetInfoFile:
    """Read and validate ``folder/_QH_dataset_info.yaml``; DatasetError when invalid."""
    import yaml

    path = folder / DATASET_INFO_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _bad(path, f"YAML syntax error{where}: {problem}") from None
    if not isinstance(data, dict):
        raise _bad(path, "the top level must be a mapping of fields")
    attrs = data.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise _bad(path, "'attributes' must be a mapping")
    for k, v in attrs.items():
        if not isinstance(v, (str, int, float, bool)):
            raise _bad(
                path, f"attribute {k!r} must be a string or a number, not {type(v).__name__}"
            )
    thumbnails = _str_list(path, data, "thumbnails")
    if len(thumbnails) > MAX_THUMBNAILS:
        raise _bad(path, f"at most {MAX_THUMBNAILS} thumbnails, got {len(thumbnails)}")
    collected = data.get("collected")
    if collected is None:
        collected = datetime.fromtimestamp(os.stat(path).st_mtime, tz=timezone.utc)
    name = data.get("dataset_name")
    if name is not None and not isinstance(name, (str, int, float)):
        raise _bad(path, "'dataset_name' must be a string")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise _bad(path, "'description' must be a string")
    return DatasetInfoFile(
        dataset_name=str(name) if name not in (None, "") else folder.name,
        collected=_parse_time(path, collected),
        description=description,
        attributes={str(k): v for k, v in attrs.items()},
        tags=_str_list(path, data, "tags"),
        converters=_str_list(path, data, "converters"),
        skip=_str_list(path, data, "skip"),
        thumbnails=thumbnails,
        unknown_keys=sorted(set(data) - _KNOWN),
    )


def generate_dataset_info(
    path: str | os.PathLike[str],
    dataset_name: str | None = None,
    *,
    collected: datetime | None = None,
    description: str = "",
    attributes: dict[str, str | int | float | bool] | None = None,
    tags: list[str] | None = None,
    converters: list[str] | None = None,
    skip: list[str] | None = None,
    thumbnails: list[str] | None = None,
) -> Path:
    """Write ``_QH_dataset_info.yaml`` into the folder ``path`` (created if needed).

    The file is written atomically, so the agent never reads half of it.
    """
    import yaml

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "dataset_name": dataset_name or folder.name,
        "collected": (collected or datetime.now().astimezone()).isoformat(),
    }
    if description:
        data["description"] = description
    for key, value in (
        ("attributes", attributes),
        ("tags", tags),
        ("converters", converters),
        ("skip", skip),
        ("thumbnails", thumbnails),
    ):
        if value:
            data[key] = dict(value) if isinstance(value, dict) else list(value)
    target = folder / DATASET_INFO_FILE
    tmp = folder / f".{DATASET_INFO_FILE}.tmp"
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(tmp, target)
    return target
