"""Generate backend and converter plugin packages from the cookiecutter templates.

The service behind ``generate_sync_agent_scaffold`` / ``generate_converter_scaffold`` (and
the ``etiket-sync`` commands of the same names). Everything a user passes is validated
before anything is written, and reaches the templates only as data:

* names are normalized (``"lab data"`` -> ``lab-data`` / ``lab_data`` / ``LabData``) and
  must match a strict pattern, so they are safe as file names, identifiers and strings;
* versions, dependencies and entry names are checked (PEP 440 / PEP 508 when
  ``packaging`` is importable, strict patterns otherwise) and restricted to printable
  ASCII without template syntax; templates write strings through the ``jsonify`` filter,
  whose JSON literals are valid Python and TOML literals for ASCII text.

Rendering uses cookiecutter's ``generate_files`` with a context built here: the user's
``~/.cookiecutterrc`` is never read, no replay file is written, values are never rendered
as templates (cookiecutter's prompt step does that), and no hooks run. Output is rendered
into a staging folder first, so a failure leaves nothing behind and an existing package
folder is only touched with ``force=True``.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etiket_sync_agent.errors import ConfigError
from etiket_sync_agent.plugins.registry import BACKEND_GROUP, CONVERTER_GROUP

SDK_DISTRIBUTION = "etiket_sync_agent"
DEFAULT_VERSION = "0.0.1"
BASES = ("database", "file")
SCOPES = ("REQUIRED", "OPTIONAL", "DISABLED")

MAX_NAME_LENGTH = 60
# one or more words of letters/digits, separated by single '-', '_', '.' or ' ';
# the first word starts with a letter
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_. ][A-Za-z0-9]+)*")
_SEPARATORS = re.compile(r"[-_. ]")
_ENTRY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# PEP 440 (the public part of packaging's VERSION_PATTERN, plus local versions)
_VERSION = re.compile(
    r"(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*"
    r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?"
    r"(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?"
    r"(?:[-_.]?dev[-_.]?[0-9]*)?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?",
    re.IGNORECASE,
)
# without `packaging`: name, optional extras, optional version specifiers; no markers/URLs
_REQUIREMENT = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
    r"(?:\[[A-Za-z0-9._-]+(?:,[A-Za-z0-9._-]+)*\])?"
    r"(?:(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+"
    r"(?:,(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+)*)?"
)
_TEMPLATE_SYNTAX = ("{{", "}}", "{%", "%}", "{#", "#}")


class ScaffoldError(ConfigError):
    """A name or value cannot be used for a generated package. Nothing was written."""


# -- names ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PluginName:
    """The spellings of one plugin name.

    ``slug`` for distributions and prose (``lab-data``), ``snake`` for modules and entry
    points (``lab_data``), ``camel`` for classes (``LabData``).
    """

    raw: str
    slug: str
    snake: str
    camel: str


def plugin_name(raw: str, what: str = "backend") -> PluginName:
    """Normalize ``raw`` (``"my-backend"``, ``"lab data"``, ``"Mat2Zarr"``) or refuse it."""
    if not isinstance(raw, str):
        raise ScaffoldError(f"the {what} name must be a string")
    text = raw.strip(" ")
    hint = (
        f"use letters and digits, words separated by '-', '_', '.' or a space, starting "
        f"with a letter, at most {MAX_NAME_LENGTH} characters (e.g. my-{what})"
    )
    if not text:
        raise ScaffoldError(f"the {what} name is empty", hint=hint)
    _refuse_template_syntax(text, f"{what} name")
    if len(text) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"the {what} name {raw!r} is too long", hint=hint)
    if text[0].isdigit():
        raise ScaffoldError(f"the {what} name {raw!r} starts with a digit", hint=hint)
    if not _NAME.fullmatch(text):
        raise ScaffoldError(f"invalid {what} name {raw!r}", hint=hint)
    words = _SEPARATORS.split(text)
    snake = "_".join(w.lower() for w in words)
    if keyword.iskeyword(snake):
        raise ScaffoldError(f"the {what} name {raw!r} is a Python keyword", hint=hint)
    camel = "".join(w[0].upper() + w[1:] for w in words)
    return PluginName(raw=raw, slug="-".join(w.lower() for w in words), snake=snake, camel=camel)


def _refuse_template_syntax(value: str, what: str) -> None:
    if any(s in value for s in _TEMPLATE_SYNTAX):
        raise ScaffoldError(f"the {what} {value!r} contains template syntax")


def _printable_ascii(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise ScaffoldError(f"the {what} must be a string, got {value!r}")
    text = value.strip(" ")
    if not text:
        raise ScaffoldError(f"the {what} is empty")
    if not all(" " <= c <= "~" for c in text):
        raise ScaffoldError(
            f"the {what} {value!r} contains control or non-ASCII characters",
            hint="pass printable ASCII text only",
        )
    _refuse_template_syntax(text, what)
    return text


# -- values --------------------------------------------------------------------------------


def check_version(value: str) -> str:
    """A PEP 440 version (``0.0.1``, ``1.2rc1``, ``2024.1.post2``) or ScaffoldError."""
    text = _printable_ascii(value, "version")
    if not _VERSION.fullmatch(text):
        raise ScaffoldError(
            f"invalid version {value!r}", hint="use a PEP 440 version such as 0.0.1 or 1.0rc1"
        )
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:  # the regex above is the check
        return text
    try:
        Version(text)
    except InvalidVersion:
        raise ScaffoldError(f"invalid version {value!r}", hint="use a PEP 440 version") from None
    return text


def check_dependency(value: str) -> str:
    """A PEP 508 requirement (``numpy>=1.24``, ``h5py; python_version>='3.10'``)."""
    text = _printable_ascii(value, "dependency")
    hint = "use a requirement such as 'numpy>=1.24' or 'h5py'"
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:
        if not _REQUIREMENT.fullmatch(text.replace(" ", "")):
            raise ScaffoldError(f"invalid dependency {value!r}", hint=hint) from None
        return text
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        raise ScaffoldError(f"invalid dependency {value!r}: {exc}", hint=hint) from None
    return text


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else requirement


def check_dependencies(values: Iterable[str]) -> list[str]:
    """The package's dependencies: the agent SDK first, then ``values`` (validated).

    A dependency on ``etiket_sync_agent`` itself replaces the default one.
    """
    extra = [check_dependency(v) for v in values]
    seen: set[str] = set()
    for dep in extra:
        name = _requirement_name(dep)
        if name in seen:
            raise ScaffoldError(f"dependency {name!r} is given twice")
        seen.add(name)
    sdk = _requirement_name(SDK_DISTRIBUTION)
    own = [] if sdk in seen else [sdk_requirement()]
    return own + extra


def sdk_requirement() -> str:
    """``etiket_sync_agent>=<the running version>`` (the SDK the templates are written for)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        public = version(SDK_DISTRIBUTION).split("+", 1)[0]
    except PackageNotFoundError:
        return SDK_DISTRIBUTION
    return f"{SDK_DISTRIBUTION}>={public}" if _VERSION.fullmatch(public) else SDK_DISTRIBUTION


def check_entry_name(value: str) -> str:
    text = _printable_ascii(value, "entry name")
    if not _ENTRY_NAME.fullmatch(text):
        raise ScaffoldError(
            f"invalid entry name {value!r}",
            hint="use letters, digits, '_', '.' and '-', starting with a letter (e.g. csv_to_hdf5)",
        )
    return text


def _choice(value: str, choices: tuple[str, ...], option: str, upper: bool) -> str:
    text = str(value).strip()
    text = text.upper() if upper else text.lower()
    if text not in choices:
        hint = f"choose one of {', '.join(choices)}"
        raise ScaffoldError(f"invalid {option} {value!r}", hint=hint)
    return text


def parse_bool(value: str | bool, option: str = "--live-sync") -> bool:
    """``True``/``False`` (also yes/no, 1/0, on/off, any case) from the command line."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "yes", "1", "on"}:
        return True
    if text in {"false", "no", "0", "off"}:
        return False
    raise ScaffoldError(f"invalid {option} value {value!r}", hint="use True or False")


def _check_level(level: int | None, base: str) -> int:
    if level is None:
        return -1
    if base != "file":
        raise ScaffoldError("--level only applies to file backends", hint="add --base file")
    if isinstance(level, bool) or not isinstance(level, int) or level < -1:
        raise ScaffoldError(
            f"invalid level {level!r}",
            hint="-1 (folders holding _QH_dataset_info.yaml), 0 (single files at any depth),"
            " 1 (children of the root) or N > 1 (folders at depth N)",
        )
    return level


def _converter_types(name: PluginName) -> tuple[str, str]:
    """``csv-to-hdf5`` -> (".csv", ".hdf5"); ``Mat2Zarr`` -> (".mat", ".zarr"); else ("", "")."""
    words = name.slug.split("-")
    if len(words) == 3 and words[1] == "to":
        return "." + words[0], "." + words[2]
    match = re.fullmatch(r"([a-z][a-z0-9]*?)2([a-z][a-z0-9]*)", name.snake)
    if match:
        return "." + match.group(1), "." + match.group(2)
    return "", ""


# -- contexts ------------------------------------------------------------------------------


def backend_context(
    name: str,
    *,
    version: str = DEFAULT_VERSION,
    dependencies: Iterable[str] = (),
    base: str = "database",
    default_scope: str = "REQUIRED",
    live_sync: bool | str = False,
    level: int | None = None,
) -> dict[str, Any]:
    """The validated template variables of a backend package (ScaffoldError if invalid)."""
    n = plugin_name(name, "backend")
    base_ = _choice(base, BASES, "--base", upper=False)
    ctx = {
        "backend_name": n.slug,
        "distribution": f"etiket-sync-agent-{n.slug}",
        "import_name": f"etiket_sync_agent_{n.snake}",
        "module_prefix": n.snake,
        "entry_name": n.snake,
        "sync_class": f"{n.camel}Sync",
        "config_class": f"{n.camel}Config",
        "version": check_version(version),
        "dependencies": check_dependencies(dependencies),
        "base": base_,
        "default_scope": _choice(default_scope, SCOPES, "--default-scope", upper=True),
        "live_sync": parse_bool(live_sync),
        "level": _check_level(level, base_),
    }
    _assert_safe(ctx)
    return ctx


def converter_context(
    name: str,
    *,
    version: str = DEFAULT_VERSION,
    dependencies: Iterable[str] = (),
    entry_name: str | None = None,
) -> dict[str, Any]:
    """The validated template variables of a converter package (ScaffoldError if invalid)."""
    n = plugin_name(name, "converter")
    input_type, output_type = _converter_types(n)
    ctx = {
        "converter_name": n.slug,
        "distribution": f"etiket-sync-agent-{n.slug}-converters",
        "import_name": f"etiket_sync_agent_{n.snake}_converters",
        "module_prefix": n.snake,
        "entry_name": check_entry_name(entry_name) if entry_name is not None else n.snake,
        "converter_class": f"{n.camel}Converter",
        "version": check_version(version),
        "dependencies": check_dependencies(dependencies),
        "input_type": input_type,
        "output_type": output_type,
    }
    _assert_safe(ctx)
    return ctx


_IDENTIFIER_KEYS = ("import_name", "module_prefix", "sync_class", "config_class", "converter_class")


def _assert_safe(ctx: dict[str, Any]) -> None:
    """Belt and braces: identifiers are identifiers, other strings printable ASCII."""
    for key, value in ctx.items():
        if key in _IDENTIFIER_KEYS and not (
            _IDENTIFIER.fullmatch(value) and not keyword.iskeyword(value)
        ):
            raise AssertionError(f"{key}={value!r} is not an identifier")
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not all(" " <= c <= "~" for c in text):
                raise AssertionError(f"{key}={text!r} is not printable ASCII")


# -- rendering -----------------------------------------------------------------------------


@dataclass
class ScaffoldResult:
    """What was generated: the package folder, its names, and the files written."""

    kind: str  # "backend" | "converter"
    path: Path
    distribution: str
    import_name: str
    entry_point_group: str
    entry_name: str
    entry_point: str  # "module:Class"
    files: list[Path] = field(default_factory=list)  # relative to ``path``
    todo_file: Path | None = None  # the file to implement, relative to ``path``
    overwritten: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "distribution": self.distribution,
            "import_name": self.import_name,
            "entry_point_group": self.entry_point_group,
            "entry_name": self.entry_name,
            "entry_point": self.entry_point,
            "files": [f.as_posix() for f in self.files],
            "todo_file": self.todo_file.as_posix() if self.todo_file else None,
            "overwritten": self.overwritten,
        }


def templates_root() -> Path:
    """The ``templates`` folder: inside the installed package, else the checkout's root."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parents[1] / "templates"):
        if (candidate / "backend" / "cookiecutter.json").is_file():
            return candidate
    raise ScaffoldError(
        "the scaffold templates are missing from this installation",
        hint="reinstall etiket_sync_agent",
    )


def template_dir(kind: str) -> Path:
    """The cookiecutter template of ``kind`` ("backend" or "converter")."""
    if kind not in ("backend", "converter"):
        raise ValueError(f"unknown template kind {kind!r}")
    return templates_root() / kind


def template_variables(kind: str) -> dict[str, Any]:
    """The variables (with example defaults) declared by a template's cookiecutter.json."""
    with open(template_dir(kind) / "cookiecutter.json", encoding="utf-8") as fh:
        return json.load(fh)


def generate_backend(
    name: str,
    *,
    version: str = DEFAULT_VERSION,
    dependencies: Iterable[str] = (),
    base: str = "database",
    default_scope: str = "REQUIRED",
    live_sync: bool | str = False,
    level: int | None = None,
    output_dir: str | os.PathLike[str] = ".",
    force: bool = False,
) -> ScaffoldResult:
    """Write ``etiket-sync-agent-<name>/`` into ``output_dir``: a backend plugin package."""
    ctx = backend_context(
        name,
        version=version,
        dependencies=dependencies,
        base=base,
        default_scope=default_scope,
        live_sync=live_sync,
        level=level,
    )
    return _render("backend", ctx, output_dir, force)


def generate_converter(
    name: str,
    *,
    version: str = DEFAULT_VERSION,
    dependencies: Iterable[str] = (),
    entry_name: str | None = None,
    output_dir: str | os.PathLike[str] = ".",
    force: bool = False,
) -> ScaffoldResult:
    """Write ``etiket-sync-agent-<name>-converters/`` into ``output_dir``."""
    ctx = converter_context(name, version=version, dependencies=dependencies, entry_name=entry_name)
    return _render("converter", ctx, output_dir, force)


def _target(output_dir: str | os.PathLike[str], distribution: str, force: bool) -> Path:
    out = Path(output_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise ScaffoldError(f"the output folder {out} is not a folder")
    target = out / distribution
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ScaffoldError(f"{target} exists and is not a folder", hint="remove it first")
    if target.exists() and not force:
        raise ScaffoldError(
            f"{target} already exists",
            hint="pass --force to overwrite its generated files, or choose --output-dir",
        )
    return target


#: per kind: entry-point group, the context key of the class, the file to implement
_KINDS = {
    "backend": (BACKEND_GROUP, "sync_class", "{module_prefix}_sync_class.py"),
    "converter": (CONVERTER_GROUP, "converter_class", "{module_prefix}_converter.py"),
}


def _render(
    kind: str, ctx: dict[str, Any], output_dir: str | os.PathLike[str], force: bool
) -> ScaffoldResult:
    group, class_key, todo_file = _KINDS[kind]
    target = _target(output_dir, ctx["distribution"], force)
    result = ScaffoldResult(
        kind=kind,
        path=target,
        distribution=ctx["distribution"],
        import_name=ctx["import_name"],
        entry_point_group=group,
        entry_name=ctx["entry_name"],
        entry_point=f"{ctx['import_name']}:{ctx[class_key]}",
        todo_file=Path(ctx["import_name"], todo_file.format(**ctx)),
    )
    repo_dir = template_dir(kind)
    declared = template_variables(kind)
    unknown = sorted(set(ctx) - set(declared))
    if unknown:  # a template/generator mismatch is a bug, not a user error
        raise AssertionError(f"{kind} template does not declare {', '.join(unknown)}")
    from cookiecutter.generate import generate_files

    context = {"cookiecutter": {**declared, **ctx}}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".etiket-scaffold-", dir=target.parent))
    try:
        rendered = Path(
            generate_files(
                repo_dir=str(repo_dir),
                context=context,
                output_dir=str(staging),
                accept_hooks=False,
            )
        )
        result.files = sorted(p.relative_to(rendered) for p in rendered.rglob("*") if p.is_file())
        result.overwritten = target.exists()
        if result.overwritten:
            for rel in result.files:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(rendered / rel, target / rel)
        else:
            os.replace(rendered, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
