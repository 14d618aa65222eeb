"""The manifest of a native dataset: a small JSON file, always replaced atomically.

Written by the API (:mod:`.dataset`), read by the ``native`` backend. Keys::

    format ("etiket_native"), version (1), uuid, name, scope, tags, attributes,
    description, state ("writing" | "complete" | "aborted"), error (text or null),
    created / finished (ISO 8601 UTC), writer_pid,
    measurements: [{name, file, state, points}], files: [{name, file, kind}]

A reader never sees a half-written manifest: it is written to a temporary file beside
it, fsynced, and renamed over the old one (then the folder is fsynced).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any

from etiket_sync_agent.native.paths import MANIFEST_FILE

FORMAT = "etiket_native"
VERSION = 1
STATES = ("writing", "complete", "aborted")
_SCALARS = (str, int, float, bool)


class ManifestError(ValueError):
    """The manifest is missing, not JSON, or does not hold what a native dataset needs."""


def write_manifest(folder: Path, data: dict[str, Any]) -> None:
    """Replace ``folder``'s manifest with ``data`` atomically (temp + fsync + rename)."""
    text = json.dumps(data, indent=1, sort_keys=False, allow_nan=False)
    target = folder / MANIFEST_FILE
    tmp = folder / f".{MANIFEST_FILE}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover - folders cannot be opened on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of the dataset in ``folder``, checked; ManifestError (one clear line)
    if it is missing or damaged."""
    path = folder / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{MANIFEST_FILE} is missing: not a native dataset") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{MANIFEST_FILE} is not valid JSON ({exc})") from None
    check_manifest(data)
    return data


def check_manifest(data: Any) -> None:
    """ManifestError naming the first key that is missing or wrong."""

    def bad(why: str) -> ManifestError:
        return ManifestError(f"{MANIFEST_FILE} is damaged: {why}")

    if not isinstance(data, dict):
        raise bad("it does not hold a JSON object")
    if data.get("format") != FORMAT:
        raise bad(f"'format' is {data.get('format')!r}, not {FORMAT!r}")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise bad(f"unknown version {data.get('version')!r} (this agent reads {VERSION})")
    for key in ("uuid", "name", "scope", "created"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise bad(f"{key!r} must be non-empty text, got {data.get(key)!r}")
    if data.get("state") not in STATES:
        raise bad(f"'state' is {data.get('state')!r}, not one of {', '.join(STATES)}")
    if not isinstance(data.get("description", ""), str):
        raise bad("'description' must be text")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise bad("'tags' must be a list of text")
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        raise bad("'attributes' must be an object")
    for k, v in attributes.items():
        if v is not None and not isinstance(v, _SCALARS):
            raise bad(f"attribute {k!r} must be text, a number or true/false")
    for key in ("measurements", "files"):
        entries = data.get(key, [])
        if not isinstance(entries, list):
            raise bad(f"{key!r} must be a list")
        for e in entries:
            if not isinstance(e, dict) or not all(
                isinstance(e.get(k), str) for k in ("name", "file")
            ):
                raise bad(f"an entry of {key!r} has no 'name' and 'file' text: {e!r}")
            if "/" in e["file"] or "\\" in e["file"] or e["file"] in ("", ".", ".."):
                raise bad(f"file {e['file']!r} of {key!r} is not a plain file name")


def check_metadata(
    scope: object, tags: object, attributes: object, description: object
) -> tuple[str, list[str], dict[str, Any], str]:
    """The script's metadata, checked (ValueError naming what is wrong)."""
    if not isinstance(scope, str) or not scope.strip():
        raise ValueError(f"scope must be non-empty text (a scope of the store), got {scope!r}")
    if tags is None:
        tags = []
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):  # type: ignore[union-attr]
        raise ValueError(f"tags must be a list of text, got {tags!r}")
    attributes = dict(attributes or {})  # type: ignore[call-overload]
    for k, v in attributes.items():
        if not isinstance(k, str) or not k.strip() or len(k) > 255:
            raise ValueError(
                f"attribute names must be non-empty text of at most 255 characters, got {k!r}"
            )
        if v is not None and not isinstance(v, _SCALARS):
            raise ValueError(
                f"attribute {k!r} must be text, a number or true/false, got {type(v).__name__}"
            )
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"attribute {k!r} must be a finite number, got {v!r}")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise ValueError(f"description must be text, got {type(description).__name__}")
    return scope.strip(), list(tags), attributes, description  # type: ignore[arg-type]
