"""Plugin discovery through entry points — the one way in, for built-ins and third parties.

Discovery is lazy (nothing is imported until a plugin is asked for or listed), cached,
and isolates failures: a plugin whose import fails, or that is not of the right base
class, is recorded as broken with its reason; the others still load. Entry points are an
argument, so tests can feed broken and duplicate ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from etiket_sync_agent.errors import PluginError

logger = logging.getLogger(__name__)

#: the entry-point groups plugins register in (defined here only; import them from here)
BACKEND_GROUP = "etiket_sync_agent.connectors"
CONVERTER_GROUP = "etiket_sync_agent.converters"
GROUPS = {BACKEND_GROUP: "backend", CONVERTER_GROUP: "converter"}


@dataclass
class PluginInfo:
    name: str
    kind: str  # "backend" | "converter"
    value: str
    distribution: str | None
    version: str | None
    error: str | None = None
    obj: Any = field(default=None, repr=False)
    entry_point: EntryPoint | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "kind": self.kind,
            "entry_point": self.value,
            "distribution": self.distribution,
            "version": self.version,
            "status": "ok" if self.ok else "broken",
            "error": self.error,
        }
        if self.ok and self.kind == "backend":
            out.update(
                backend_kind=self.obj.kind,
                scope_requirement=self.obj.scope_requirement.value,
                live_sync=bool(self.obj.live_sync_implemented),
            )
        if self.ok and self.kind == "converter":
            out.update(input_type=self.obj.input_type, output_type=self.obj.output_type)
        return out


def _check(kind: str, obj: Any) -> None:
    from etiket_sync_agent.plugins.base import SyncBackend
    from etiket_sync_agent.plugins.converter import FileConverter

    base = SyncBackend if kind == "backend" else FileConverter
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise TypeError(f"{obj!r} is not a subclass of {base.__name__}")
    if kind == "backend":
        import dataclasses

        if not dataclasses.is_dataclass(getattr(obj, "config_class", None)):
            raise TypeError(f"{obj.__name__}.config_class must be a dataclass")


class Registry:
    """Backends and converters from the given entry points (default: installed ones)."""

    def __init__(self, eps: Iterable[EntryPoint] | None = None) -> None:
        self._eps = list(eps) if eps is not None else None
        self._plugins: dict[tuple[str, str], PluginInfo] | None = None
        self._lock = threading.RLock()

    def _entry_points(self) -> list[EntryPoint]:
        if self._eps is not None:
            return self._eps
        found: list[EntryPoint] = []
        for group in GROUPS:
            found.extend(entry_points(group=group))
        return found

    def _index(self) -> dict[tuple[str, str], PluginInfo]:
        with self._lock:
            if self._plugins is None:
                plugins: dict[tuple[str, str], PluginInfo] = {}
                for ep in self._entry_points():
                    kind = GROUPS.get(ep.group)
                    if kind is None:
                        continue
                    dist = getattr(ep, "dist", None)
                    info = PluginInfo(
                        name=ep.name,
                        kind=kind,
                        value=ep.value,
                        distribution=dist.name if dist else None,
                        version=dist.version if dist else None,
                        entry_point=ep,
                    )
                    key = (kind, ep.name)
                    if key in plugins and plugins[key].value != ep.value:
                        other = plugins[key]
                        logger.warning(
                            "%s %r registered twice (%s, %s); keeping the first",
                            kind,
                            ep.name,
                            other.distribution,
                            info.distribution,
                        )
                        continue
                    plugins[key] = info
                self._plugins = plugins
            return self._plugins

    def _load(self, info: PluginInfo) -> PluginInfo:
        with self._lock:
            ep, info.entry_point = info.entry_point, None  # load once
            if ep is not None:
                try:
                    obj = ep.load()
                    _check(info.kind, obj)
                    info.obj = obj
                except Exception as exc:  # noqa: BLE001 - a broken plugin must not break others
                    info.error = f"{type(exc).__name__}: {exc}"
                    logger.warning("%s plugin %r failed to load: %s", info.kind, info.name, exc)
        return info

    def refresh(self) -> None:
        with self._lock:
            self._plugins = None

    def list(self, kind: str | None = None) -> list[PluginInfo]:
        """Every plugin (loaded, so broken ones show their error), sorted by kind and name."""
        infos = [self._load(i) for (k, _), i in sorted(self._index().items()) if kind in (None, k)]
        return infos

    def get(self, kind: str, name: str) -> Any:
        info = self._index().get((kind, name))
        if info is None:
            known = ", ".join(sorted(n for k, n in self._index() if k == kind)) or "none"
            raise PluginError(
                f"no {kind} called {name!r} is installed (installed: {known})",
                hint="run `etiket-sync plugins` to see installed backends and converters",
            )
        self._load(info)
        if not info.ok:
            raise PluginError(
                f"{kind} {name!r} is installed but failed to load: {info.error}",
                hint=f"reinstall {info.distribution or 'the plugin'}; see `etiket-sync plugins`",
            )
        return info.obj

    def backend(self, name: str) -> Any:
        return self.get("backend", name)

    def converter(self, name: str) -> Any:
        return self.get("converter", name)


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of installed plugins."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
