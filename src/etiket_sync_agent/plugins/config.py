"""Backend configuration: a dataclass per backend drives add-source, validation and display.

A config class is a plain ``@dataclass``. Fields are typed ``str``, ``int``, ``float``,
``bool``, ``pathlib.Path`` or ``dict`` (``dict[str, str | int | float | bool]`` for a flat
mapping whose values are checked); mark secrets with
``field(metadata={"secret": True})`` and document fields with
``field(metadata={"help": "..."})``. An optional ``validate(self)`` method raises
:class:`etiket_sync_agent.errors.ConfigError` (or ``ValueError``) for values that are
well-typed but wrong (a folder that does not exist, ...).

Checked here for every backend: floats must be finite (``nan``/``inf`` are refused), a
``Path`` must not be empty, and a flat mapping's values must be scalars (a nested value
is refused, never silently dropped). :func:`redact` and :func:`redact_text` hide secrets
in everything shown or logged.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import ConfigError

REDACTED = "***"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
#: key names whose values are secrets wherever they appear (config keys, nested dicts,
#: libpq ``key=value`` strings); matched as substrings, case-insensitively
_SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "credential")
_SCALARS = (str, int, float, bool)


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
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"expected a finite number, got {value!r}")
            return number
        if origin is Path:
            if not str(value).strip():
                raise ValueError("expected a path, got an empty value")
            return Path(value).expanduser()
        if origin is dict:
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, dict):
                raise ValueError("expected a JSON object")
            _check_flat(parsed, tp)
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


def _check_flat(mapping: dict[Any, Any], tp: Any) -> None:
    """A ``dict`` field holds a flat mapping of names to str/int/float/bool (the only kind
    our backends can use: a nested value would be silently dropped), unless its type
    says otherwise (``dict[str, Any]``, ``dict[str, list]``, ...)."""
    args = typing.get_args(tp)
    value_type = args[1] if len(args) == 2 else None
    if value_type is not None and value_type is not Any:
        allowed = tuple(a for a in typing.get_args(value_type) or (value_type,) if a in _SCALARS)
        if not allowed:
            return  # a declared non-scalar value type: the backend checks it
    else:
        if value_type is Any:
            return
        allowed = _SCALARS
    for key, val in mapping.items():
        if val is not None and not isinstance(val, allowed):
            raise ValueError(
                f"{key!r} must be a string, number or true/false, not {type(val).__name__}"
                " (nested values are not supported)"
            )
        if isinstance(val, float) and not math.isfinite(val):
            raise ValueError(f"{key!r} must be a finite number, got {val!r}")


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


def _secret_key(key: str) -> bool:
    k = key.lower()
    return any(w in k for w in _SECRET_WORDS)


def redact(config_class: type | None, values: dict[str, Any]) -> dict[str, Any]:
    """Copy of ``values`` fit to show or log: secret fields, secret-named keys at any
    depth (nested dicts and lists), passwords in URLs and in libpq ``key=value`` strings
    are replaced by ``***``; non-finite floats become strings (JSON has no NaN)."""
    secret: set[str] = set()
    if config_class is not None and dataclasses.is_dataclass(config_class):
        secret = {f.name for f in dataclasses.fields(config_class) if f.metadata.get("secret")}
    return {k: _redact_value(v, str(k) in secret or _secret_key(str(k))) for k, v in values.items()}


def _redact_value(value: Any, secret: bool) -> Any:
    if secret:
        if isinstance(value, dict):
            return {k: _redact_value(v, True) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_redact_value(v, True) for v in value]
        return REDACTED if value not in (None, "", False) else value
    if isinstance(value, dict):
        return {k: _redact_value(v, _secret_key(str(k))) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(v, False) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


# scheme://user:password@host -> the password part (user names are kept)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^@\s]*)@")
# key=value pairs whose key names a secret (libpq, query strings, environments); the
# value may be quoted ('p w'). Not "key: value": "secret.bin: Permission denied" is text.
_KEY_VALUE = re.compile(
    r"(?P<head>\b[\w-]*(?:" + "|".join(_SECRET_WORDS) + r")[\w-]*\s*=\s*)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s,;&'\"]+)",
    re.IGNORECASE,
)


def redact_text(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with passwords in URLs and secret ``key=value`` pairs (libpq connection
    strings, query strings) replaced by ``***``, and every string of ``secrets`` too.

    For free text shown or logged: error messages, connection strings."""
    for value in secrets:
        if value and len(value) >= 3:  # shorter ones would blank unrelated text
            text = text.replace(value, REDACTED)
    text = _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED + "@", text)
    return _KEY_VALUE.sub(lambda m: m["head"] + REDACTED, text)


def secret_values(config: Any) -> list[str]:
    """The string values of ``config``'s secret fields and secret-named keys at any depth
    (to blank them in free text, e.g. an error message that quotes a password)."""
    out: list[str] = []

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, secret or _secret_key(str(k)))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, secret)
        elif secret and isinstance(value, str) and value:
            out.append(value)

    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        for f in dataclasses.fields(config):
            walk(getattr(config, f.name), bool(f.metadata.get("secret")) or _secret_key(f.name))
    elif isinstance(config, dict):
        walk(config, False)
    return out


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
