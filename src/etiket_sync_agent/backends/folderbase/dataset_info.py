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

Limits (a dataset must not make the agent hold unbounded memory): the file is at most
:data:`MAX_INFO_BYTES`, nested at most :data:`MAX_DEPTH` levels, with at most
:data:`MAX_ATTRIBUTES` attributes and :data:`MAX_TAGS` tags (and entries of the other
lists), names at most :data:`MAX_NAME_CHARS` and values :data:`MAX_VALUE_CHARS`
characters; numbers are finite and integers fit 64 bits. Only a regular file is read
(never a FIFO, which would block).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import DatasetError
from etiket_sync_agent.plugins.base import DATASET_INFO_FILE

MAX_THUMBNAILS = 10
MAX_INFO_BYTES = 1 << 20  # 1 MiB: thousands of attributes fit; 3.6 M lines do not
MAX_DEPTH = 16  # nesting levels of YAML collections (the format needs 2)
MAX_ATTRIBUTES = 1000
MAX_TAGS = 1000  # also the limit of converters/skip entries
MAX_NAME_CHARS = 255  # attribute names, tags (the store's limit for names)
MAX_VALUE_CHARS = 10_000  # attribute values, list entries
MAX_DESCRIPTION_CHARS = 100_000
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
        f"invalid {DATASET_INFO_FILE} in {_folder_name(path.parent, full=True)}: {why}",
        hint="fix the file; the dataset is synchronized again when it changes",
        retryable=False,
    )


def _str_list(path: Path, data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise _bad(path, f"'{key}' must be a list of strings")
    if len(value) > MAX_TAGS:
        raise _bad(path, f"'{key}' has {len(value)} entries, at most {MAX_TAGS} are allowed")
    out = [str(v) for v in value]
    limit = MAX_NAME_CHARS if key == "tags" else MAX_VALUE_CHARS
    for v in out:
        if len(v) > limit:
            raise _bad(path, f"an entry of '{key}' is longer than {limit} characters")
    return out


def _read_text(path: Path) -> str:
    """The info file's text: a regular file (opened without blocking), at most
    :data:`MAX_INFO_BYTES`; DatasetError otherwise."""
    from etiket_sync_agent.backends.folderbase.files import inside, open_regular
    from etiket_sync_agent.engine.failures import describe_os_error, os_error_is_permanent

    if path.is_symlink() and not inside(path.parent, path):
        raise _bad(path, "a symlink to something outside the dataset folder (not read)")
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            data = fh.read(MAX_INFO_BYTES + 1)
    except OSError as exc:
        raise DatasetError(
            f"cannot read {DATASET_INFO_FILE}: {describe_os_error(exc)}",
            retryable=not os_error_is_permanent(exc),
        ) from exc
    if len(data) > MAX_INFO_BYTES:
        raise _bad(path, f"larger than {MAX_INFO_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text") from None


def _check_depth(path: Path, text: str) -> None:
    """Refuse collections nested deeper than :data:`MAX_DEPTH` before building them
    (the YAML event parser is not recursive; building 100,000 nested lists is)."""
    import yaml

    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _bad(path, f"nested more than {MAX_DEPTH} levels deep")
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return  # reported with its line by the full load


def _check_scalar(path: Path, key: str, value: Any) -> None:
    if not isinstance(value, (str, int, float, bool)):
        raise _bad(
            path, f"attribute {key!r} must be a string or a number, not {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(path, f"attribute {key!r} must be a finite number, not {value}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise _bad(path, f"attribute {key!r} is out of range (64-bit integers)")
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise _bad(path, f"attribute {key!r} is longer than {MAX_VALUE_CHARS} characters")
    if len(key) > MAX_NAME_CHARS:
        raise _bad(path, f"an attribute name is longer than {MAX_NAME_CHARS} characters")


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
    text = _read_text(path)
    _check_depth(path, text)
    try:
        data = yaml.safe_load(text) or {}
    except RecursionError:  # pragma: no cover - _check_depth refuses such files first
        raise _bad(path, f"nested more than {MAX_DEPTH} levels deep") from None
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
    if len(attrs) > MAX_ATTRIBUTES:
        raise _bad(path, f"{len(attrs)} attributes, at most {MAX_ATTRIBUTES} are allowed")
    for k, v in attrs.items():
        _check_scalar(path, str(k), v)
    thumbnails = _str_list(path, data, "thumbnails")
    if len(thumbnails) > MAX_THUMBNAILS:
        raise _bad(path, f"at most {MAX_THUMBNAILS} thumbnails, got {len(thumbnails)}")
    collected = data.get("collected")
    if collected is None:
        try:
            collected = datetime.fromtimestamp(os.stat(path).st_mtime, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):  # a clock far off: year 30,000
            raise _bad(path, "its modification time is not a valid date: set 'collected'") from None
    name = data.get("dataset_name")
    if name is not None and not isinstance(name, (str, int, float)):
        raise _bad(path, "'dataset_name' must be a string")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise _bad(path, "'description' must be a string")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise _bad(path, f"'description' is longer than {MAX_DESCRIPTION_CHARS} characters")
    if name is not None and len(str(name)) > 1024:
        raise _bad(path, "'dataset_name' is longer than 1024 characters")
    return DatasetInfoFile(
        dataset_name=str(name) if name not in (None, "") else _folder_name(folder),
        collected=_parse_time(path, collected),
        description=description,
        attributes={str(k): v for k, v in attrs.items()},
        tags=_str_list(path, data, "tags"),
        converters=_str_list(path, data, "converters"),
        skip=_str_list(path, data, "skip"),
        thumbnails=thumbnails,
        unknown_keys=sorted(set(data) - _KNOWN),
    )


def _folder_name(folder: Path, full: bool = False) -> str:
    from etiket_sync_agent.engine.scanner import safe_name

    return safe_name(str(folder) if full else folder.name)


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
