"""Contract checks for backend and converter plugins — the ones the built-ins pass too.

A plugin package's tests are a few lines (the names are re-exported by the package)::

    from etiket_sync_agent.testing import BackendContractTests
    from etiket_sync_agent_my_backend import MyBackendSync

    class TestMyBackendSync(BackendContractTests):
        backend_class = MyBackendSync

and the same with :class:`ConverterContractTests`. The checks are also plain functions
(:func:`check_backend_class`, :func:`check_converter_class`, :func:`check_entry_point`)
raising :class:`ContractError` (an ``AssertionError``) that lists every problem found, and
:func:`run_backend_once` synchronizes a backend into a temporary home with the real engine.

pytest is only imported by the test classes' methods; this module itself is cheap to import.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import re
import types
import typing
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

from etiket_sync_agent.plugins.base import DatabaseBackend, FileBackend, SyncBackend
from etiket_sync_agent.plugins.converter import FileConverter
from etiket_sync_agent.plugins.items import ScopeRequirement
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, CONVERTER_GROUP

_ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SUFFIX = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9._+-]*")
_CONFIG_TYPES = (str, int, float, bool, Path, dict, list)


class ContractError(AssertionError):
    """A plugin class breaks the contract; ``problems`` lists every reason."""

    def __init__(self, subject: str, problems: list[str]) -> None:
        self.subject = subject
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{subject} breaks the plugin contract:\n{lines}")


# -- backends --------------------------------------------------------------------------------


def backend_problems(cls: Any) -> list[str]:
    """Every way ``cls`` breaks the backend contract (empty when it is fine)."""
    if not isinstance(cls, type) or not issubclass(cls, (DatabaseBackend, FileBackend)):
        return [f"{cls!r} is not a subclass of DatabaseBackend or FileBackend"]
    problems: list[str] = []
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        problems.append(f"abstract methods not implemented: {', '.join(abstract)}")
    name = getattr(cls, "sync_agent_name", None)
    if not isinstance(name, str) or not _ENTRY_NAME.fullmatch(name):
        problems.append(
            f"sync_agent_name must be the entry-point name (letters, digits, '_', '.', '-'), "
            f"got {name!r}"
        )
    problems += config_class_problems(getattr(cls, "config_class", None))
    if not isinstance(cls.scope_requirement, ScopeRequirement):
        problems.append(
            f"scope_requirement must be a ScopeRequirement, got {cls.scope_requirement!r}"
        )
    for flag in ("supports_scope_mapping", "live_sync_implemented"):
        if not isinstance(getattr(cls, flag), bool):
            problems.append(f"{flag} must be True or False, got {getattr(cls, flag)!r}")
    live_methods = [
        m for m in ("check_live_dataset", "sync_dataset_live") if _overrides(cls, m, SyncBackend)
    ]
    if cls.live_sync_implemented and len(live_methods) < 2:
        problems.append(
            "live_sync_implemented is True but check_live_dataset and sync_dataset_live are "
            "not both implemented"
        )
    if not cls.live_sync_implemented and "sync_dataset_live" in live_methods:
        problems.append(
            "sync_dataset_live is implemented but live_sync_implemented is False: it never runs"
        )
    methods: dict[str, int] = {
        "sync_dataset_normal": 2,
        "sync_dataset_live": 2,
        "check_live_dataset": 1,
    }
    if issubclass(cls, DatabaseBackend):
        methods["get_new_datasets"] = 1
    else:
        methods["root_path"] = 0
        level, single = cls.level, cls.is_single_file
        if isinstance(level, bool) or not isinstance(level, int) or level < -1:
            problems.append(
                f"level must be -1, 0 (single files at any depth) or an int >= 1, got {level!r}"
            )
        elif level == 0 and single is not True:
            problems.append(
                "level must be -1 or an int >= 1, got 0 (level 0 finds single files at "
                "any depth: it needs is_single_file = True)"
            )
        if not isinstance(single, bool):
            problems.append(f"is_single_file must be True or False, got {single!r}")
        elif single and level == -1:
            problems.append(
                "is_single_file needs a level >= 1, or 0 for files at any depth "
                "(level -1 finds folders)"
            )
    for method, n_args in methods.items():
        problems += _signature_problems(cls, method, n_args)
    return problems


def config_class_problems(config_class: Any) -> list[str]:
    """Every way ``config_class`` cannot drive ``add-source`` (empty when it is fine)."""
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        return [f"config_class must be a dataclass, got {config_class!r}"]
    problems: list[str] = []
    try:
        hints = typing.get_type_hints(config_class)
    except Exception as exc:  # noqa: BLE001 - report, do not crash the check
        return [f"the field types of {config_class.__name__} cannot be resolved: {exc}"]
    for f in dataclasses.fields(config_class):
        tp = _strip_optional(hints.get(f.name, str))
        if (typing.get_origin(tp) or tp) not in _CONFIG_TYPES:
            problems.append(
                f"config field {f.name!r} has type {tp!r}; use str, int, float, bool, Path, "
                f"dict or list"
            )
    validate = getattr(config_class, "validate", None)
    if validate is not None and not callable(validate):
        problems.append(f"{config_class.__name__}.validate must be a method")
    return problems


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _overrides(cls: type, method: str, base: type) -> bool:
    return getattr(cls, method, None) is not getattr(base, method, None)


def _signature_problems(cls: type, method: str, n_args: int) -> list[str]:
    fn = getattr(cls, method, None)
    if not callable(fn):
        return [f"{method} is not a method"]
    try:
        inspect.signature(fn).bind(*range(n_args + 1))  # self + the engine's arguments
    except TypeError:
        return [f"{method} must accept {n_args} argument(s) after self"]
    except ValueError:  # no signature available (a builtin): nothing to check
        pass
    return []


def check_backend_class(cls: Any) -> None:
    """Raise :class:`ContractError` unless ``cls`` is a usable backend class."""
    problems = backend_problems(cls)
    if problems:
        raise ContractError(getattr(cls, "__name__", repr(cls)), problems)


# -- converters ------------------------------------------------------------------------------


def converter_problems(cls: Any) -> list[str]:
    """Every way ``cls`` breaks the converter contract (empty when it is fine)."""
    if not isinstance(cls, type) or not issubclass(cls, FileConverter):
        return [f"{cls!r} is not a subclass of FileConverter"]
    problems: list[str] = []
    abstract = sorted(getattr(cls, "__abstractmethods__", ()))
    if abstract:
        problems.append(f"abstract methods not implemented: {', '.join(abstract)}")
    for attr in ("input_type", "output_type"):
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not _SUFFIX.fullmatch(value):
            problems.append(
                f"{attr} must be a file suffix starting with '.', like '.csv'; got {value!r}"
            )
    problems += _signature_problems(cls, "convert", 2)
    return problems


def check_converter_class(cls: Any) -> None:
    """Raise :class:`ContractError` unless ``cls`` is a usable converter class."""
    problems = converter_problems(cls)
    if problems:
        raise ContractError(getattr(cls, "__name__", repr(cls)), problems)


def run_converter(cls: type[FileConverter], input_path: Path, output_dir: Path) -> Path:
    """Convert ``input_path`` with ``cls`` as the agent does; check the result and return it.

    The output must be a new file inside ``output_dir`` with suffix ``output_type``, and the
    input must be unchanged.
    """
    input_path, output_dir = Path(input_path), Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    before = _sha256(input_path)
    out = Path(cls().convert(input_path, output_dir))
    problems = []
    if not out.is_file():
        problems.append(f"convert returned {out}, which is not a file")
    elif out.resolve().parent != output_dir.resolve():
        problems.append(f"convert wrote {out} outside output_dir {output_dir}")
    if not out.name.lower().endswith(cls.output_type.lower()):
        problems.append(f"convert returned {out.name}, not a {cls.output_type} file")
    if _sha256(input_path) != before:
        problems.append(f"convert modified its input {input_path}")
    if problems:
        raise ContractError(cls.__name__, problems)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- installation ----------------------------------------------------------------------------


def check_entry_point(cls: type, name: str | None = None) -> EntryPoint:
    """Check that the installed distributions register ``cls`` as plugin ``name``.

    ``name`` defaults to a backend's ``sync_agent_name``; it is required for converters.
    Returns the entry point. Fails when the package is not installed (``pip install -e .``).
    """
    from importlib.metadata import entry_points

    from etiket_sync_agent.plugins.registry import Registry

    is_backend = isinstance(cls, type) and issubclass(cls, SyncBackend)
    group = BACKEND_GROUP if is_backend else CONVERTER_GROUP
    kind = "backend" if is_backend else "converter"
    if name is None:
        if not is_backend:
            raise TypeError("check_entry_point needs the converter's entry-point name")
        name = cls.sync_agent_name
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    subject = f"{kind} {name!r}"
    if not found:
        raise ContractError(
            subject,
            [
                f"no entry point {name!r} in group {group!r} is installed: install the package "
                f"(pip install -e .) and check [project.entry-points] in its pyproject.toml"
            ],
        )
    ep = found[0]
    try:
        obj = Registry([ep]).get(kind, name)
    except Exception as exc:  # noqa: BLE001 - turn into a contract failure with the reason
        raise ContractError(subject, [f"entry point {ep.value!r} does not load: {exc}"]) from exc
    if obj is not cls and _reference(obj) != _reference(cls):
        raise ContractError(
            subject, [f"entry point {ep.value!r} loads {obj!r}, not {_reference(cls)}"]
        )
    return ep


def _reference(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _entry_point(name: str, cls: type, group: str) -> EntryPoint:
    ep = EntryPoint(name, _reference(cls), group)
    try:
        loaded = ep.load()
    except (ImportError, AttributeError):
        loaded = None
    if loaded is not cls:
        raise ContractError(
            cls.__name__, [f"{_reference(cls)} cannot be imported: define it at module level"]
        )
    return ep


# -- end to end ------------------------------------------------------------------------------


def run_backend_once(
    backend_cls: type,
    config: Mapping[str, Any],
    tmp_home: str | os.PathLike[str],
    *,
    scope: str = "test",
    source_name: str = "contract-test",
    converters: Mapping[str, type] | None = None,
    allow_failures: bool = False,
) -> list[dict[str, Any]]:
    """Synchronize ``backend_cls`` once in a fresh home and return the datasets it stored.

    Adds a source with ``config`` (as ``etiket-sync add-source`` would, validated by the
    config class) to the home ``tmp_home``, runs one pass of the real engine
    (``run --once``) and returns each dataset as ``etiket-sync datasets show --json`` does
    (with its ``files``). The backend (and ``converters``, name -> class) need not be
    installed; installed plugins are available too. Raises :class:`ContractError` when an
    item failed, unless ``allow_failures``.
    """
    from importlib.metadata import entry_points

    from etiket_sync_agent.engine.loop import SyncEngine
    from etiket_sync_agent.home import Home
    from etiket_sync_agent.plugins.registry import Registry
    from etiket_sync_agent.runtime import Runtime
    from etiket_sync_agent.services import datasets, sources

    check_backend_class(backend_cls)
    name = backend_cls.sync_agent_name
    explicit = [_entry_point(name, backend_cls, BACKEND_GROUP)] + [
        _entry_point(n, c, CONVERTER_GROUP) for n, c in (converters or {}).items()
    ]
    taken = {(ep.group, ep.name) for ep in explicit}
    installed = [
        ep
        for group in (BACKEND_GROUP, CONVERTER_GROUP)
        for ep in entry_points(group=group)
        if (group, ep.name) not in taken
    ]
    rt = Runtime(Home.resolve(tmp_home), registry=Registry(explicit + installed))
    try:
        datasets.create_scope(rt, scope)
        needs_scope = backend_cls.scope_requirement is not ScopeRequirement.DISABLED
        sources.add_source(
            rt, name, source_name, scope=scope if needs_scope else None, settings=dict(config)
        )
        SyncEngine(rt).run(once=True)
        failed = [i for i in sources.list_items(rt, source_name) if i["status"] == "failed"]
        if failed and not allow_failures:
            raise ContractError(
                backend_cls.__name__,
                [f"item {i['identifier']!r} failed: {i.get('last_error')}" for i in failed],
            )
        return [
            datasets.show_dataset(rt, d["uuid"])
            for d in datasets.list_datasets(rt, source=source_name)
        ]
    finally:
        rt.close()


# -- pytest classes --------------------------------------------------------------------------


class BackendContractTests:
    """Subclass as ``TestXxx`` with ``backend_class = Xxx`` to run the backend checks.

    Override :meth:`sample_config` to also synchronize a small sample end to end.
    """

    backend_class: ClassVar[type]

    def sample_config(self, tmp_path: Path) -> Mapping[str, Any] | None:
        """The config of a small sample (created under ``tmp_path``); None to skip."""
        return None

    def check_datasets(self, datasets: list[dict[str, Any]]) -> None:
        """What the sample must produce (default: at least one dataset, each with files)."""
        assert datasets, "the sample produced no dataset"
        for ds in datasets:
            assert ds["files"], f"dataset {ds['name']!r} has no files"

    def test_backend_class(self) -> None:
        check_backend_class(self.backend_class)

    def test_entry_point(self) -> None:
        check_entry_point(self.backend_class)

    def test_sync_sample(self, tmp_path: Path) -> None:
        config = self.sample_config(tmp_path)
        if config is None:
            import pytest

            pytest.skip("define sample_config(tmp_path) to synchronize a sample end to end")
        self.check_datasets(run_backend_once(self.backend_class, config, tmp_path / "home"))


class ConverterContractTests:
    """Subclass as ``TestXxx`` with ``converter_class`` and ``entry_name`` set.

    Override :meth:`sample_input` to also convert a small sample file.
    """

    converter_class: ClassVar[type[FileConverter]]
    entry_name: ClassVar[str | None] = None

    def sample_input(self, tmp_path: Path) -> Path | None:
        """A small input file (created under ``tmp_path``); None to skip."""
        return None

    def test_converter_class(self) -> None:
        check_converter_class(self.converter_class)

    def test_entry_point(self) -> None:
        if not self.entry_name:
            raise ContractError(self.converter_class.__name__, ["set entry_name in the test"])
        check_entry_point(self.converter_class, self.entry_name)

    def test_convert_sample(self, tmp_path: Path) -> None:
        path = self.sample_input(tmp_path)
        if path is None:
            import pytest

            pytest.skip("define sample_input(tmp_path) to convert a sample file")
        run_converter(self.converter_class, path, tmp_path / "converted")
