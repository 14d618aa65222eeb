"""Backend configuration: a dataclass per backend drives add-source, validation and display.

A config class is a plain ``@dataclass``. Fields are typed ``str``, ``int``, ``float``,
``bool``, ``pathlib.Path`` or ``dict``; mark secrets with
``field(metadata={"secret": True})`` and document fields with
``field(metadata={"help": "..."})``. An optional ``validate(self)`` method raises
:class:`etiket_sync_agent.errors.ConfigError` (or ``ValueError``) for values that are
well-typed but wrong (a folder that does not exist, ...).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import ConfigError

REDACTED = "***"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _field_types(config_class: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config_class)
    return {f.name: hints.get(f.name, str) for f in dataclasses.fields(config_class)}


def _base_type(tp: Any) -> Any:
    """``Optional[X]``/``X | None`` -> X."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _coerce(name: str, value: Any, tp: Any) -> Any:
    tp = _base_type(tp)
    origin = typing.get_origin(tp) or tp
    if value is None:
        return None
    try:
        if origin is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"expected true/false, got {value!r}")
        if origin is int and not isinstance(value, bool):
            return int(value)
        if origin is float:
            return float(value)
        if origin is Path:
            return Path(value).expanduser()
        if origin is dict:
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, dict):
                raise ValueError("expected a JSON object")
            return parsed
        if origin is list:
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, list):
                raise ValueError("expected a JSON list")
            return parsed
        if origin is str:
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value for {name!r}: {exc}") from None
    return value


def build_config(config_class: type, raw: dict[str, Any]) -> Any:
    """Turn ``raw`` (strings from the CLI or JSON values) into a validated config object.

    Unknown keys, missing required keys and bad values raise ConfigError naming the key.
    """
    if not dataclasses.is_dataclass(config_class):
        raise ConfigError(f"{config_class!r} is not a dataclass config class")
    types_ = _field_types(config_class)
    unknown = sorted(set(raw) - set(types_))
    if unknown:
        raise ConfigError(
            f"unknown config key(s): {', '.join(unknown)}",
            hint=f"valid keys: {', '.join(types_)}",
        )
    kwargs = {k: _coerce(k, v, types_[k]) for k, v in raw.items()}
    missing = [
        f.name
        for f in dataclasses.fields(config_class)
        if f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(
            f"missing config key(s): {', '.join(missing)}",
            hint="pass them with --set key=value or --config-file FILE",
        )
    config = config_class(**kwargs)
    validate = getattr(config, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError:
            raise
        except (ValueError, OSError) as exc:
            raise ConfigError(str(exc)) from None
    return config


def config_to_json(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a config object (paths as strings)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else value
    return out


def redact(config_class: type | None, values: dict[str, Any]) -> dict[str, Any]:
    """Copy of ``values`` with secret fields (and URL passwords) replaced by ``***``."""
    secret: set[str] = set()
    if config_class is not None and dataclasses.is_dataclass(config_class):
        secret = {f.name for f in dataclasses.fields(config_class) if f.metadata.get("secret")}
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k in secret or any(s in k.lower() for s in ("password", "secret", "token")):
            out[k] = REDACTED if v else v
        elif isinstance(v, str) and "://" in v and "@" in v:
            out[k] = _strip_url_password(v)
        else:
            out[k] = v
    return out


def _strip_url_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    creds, _, host = rest.rpartition("@")
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:{REDACTED}@{host}"
    return url


def describe_fields(config_class: type) -> list[dict[str, Any]]:
    """Name, type, default, required, secret and help of every field (for docs and CLI)."""
    types_ = _field_types(config_class)
    rows = []
    for f in dataclasses.fields(config_class):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = (
            None
            if required
            else (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        )
        rows.append(
            {
                "name": f.name,
                "type": getattr(_base_type(types_[f.name]), "__name__", str(types_[f.name])),
                "required": required,
                "default": str(default) if isinstance(default, Path) else default,
                "secret": bool(f.metadata.get("secret")),
                "help": f.metadata.get("help", ""),
            }
        )
    return rows
