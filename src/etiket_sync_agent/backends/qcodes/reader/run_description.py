"""Run descriptions: parse every format QCoDeS ever stored, and re-serialize as QCoDeS does.

Formats found in ``runs.run_description`` (see QCoDeS' ``descriptions/versioning``):

* no ``version`` key (schema v3..v5): ``{"interdependencies": {"paramspecs": [...]}}``,
  i.e. RunDescriber v0 (old-style ParamSpecs with ``depends_on``/``inferred_from`` lists);
* the "version 4a" bug: same but the interdependencies are new style (``parameters``,
  ``dependencies``, ``inferences``, ``standalones``) - QCoDeS needs a fix function for it,
  we just recognise the keys;
* version 0 (old style), 1 (new style), 2 (both; new style wins), >=3 (both + ``shapes``).

Schema v<4 databases are described by the ``layouts``/``dependencies`` tables (QCoDeS'
2->3 and 3->4 upgrades rebuild ``run_description`` from them; v3 files may hold wrong or
NULL descriptions), and the parameter type is the declared type of the result column.

The ``run_description`` attribute of an export is the description re-serialized as
RunDescriber v3 JSON (``to_json_for_storage``), which is what :func:`to_storage_json` gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .errors import QCoDeSFormatError
from .interdeps import PARAM_TYPES, InterDependencies, ParamSpec
from .schema import quote_identifier
from .sqlite_open import ReadOnlyConnection

DescriptionSource = Literal["run_description", "layouts", "result_table", "empty"]
STORAGE_VERSION = 3


@dataclass(frozen=True)
class RunDescription:
    """The parameters of a run, their relations and (optionally) the expected data shapes.

    ``shapes`` maps a top-level parameter to the shape QCoDeS was told to expect
    (``Measurement.set_shapes``), values as stored (normally ints). ``source`` says where
    the description came from: the ``run_description`` column, the ``layouts`` tables
    (schema v<4), the result table's columns (our fallback when QCoDeS recorded no
    parameters but the table holds data), or nothing at all.
    """

    interdeps: InterDependencies
    shapes: dict[str, list[Any]] | None = None
    source: DescriptionSource = "run_description"

    def shape_of(self, name: str) -> tuple[int, ...] | None:
        """The expected shape of top-level parameter ``name`` as ints, or None."""
        if self.shapes is None or name not in self.shapes or self.shapes[name] is None:
            return None
        return tuple(int(s) for s in self.shapes[name])


def to_storage_json(desc: RunDescription) -> str:
    """Serialize like QCoDeS' ``serialization.to_json_for_storage`` (RunDescriber v3)."""
    return json.dumps(
        {
            "version": STORAGE_VERSION,
            "interdependencies": {"paramspecs": desc.interdeps.old_style_paramspecs()},
            "interdependencies_": desc.interdeps.to_new_style_dict(),
            "shapes": desc.shapes,
        }
    )


# -- parsing --------------------------------------------------------------------------


def _spec(ser: dict[str, Any], where: str) -> ParamSpec:
    try:
        name = ser["name"]
        paramtype = str(ser["paramtype"]).lower()
    except (KeyError, TypeError) as exc:
        raise QCoDeSFormatError(f"bad parameter entry in run description{where}: {ser!r}") from exc
    if paramtype not in PARAM_TYPES:
        raise QCoDeSFormatError(
            f"parameter {name!r} has unknown paramtype {paramtype!r} in run description{where}"
        )
    return ParamSpec(
        name=name, type=paramtype, label=ser.get("label") or "", unit=ser.get("unit") or ""
    )


def _name_list(value: Any) -> list[str]:
    # Old descriptions stored "a, b" strings before lists; accept both.
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(", ") if v]
    return list(value)


def interdeps_from_old_style(
    paramspecs: list[dict[str, Any]], where: str = ""
) -> InterDependencies:
    """Old-style ParamSpec list -> graph, following QCoDeS' ``old_to_new``."""
    specs = {ps["name"]: _spec(ps, where) for ps in paramspecs}
    dependencies: list[tuple[ParamSpec, list[ParamSpec]]] = []
    inferences: list[tuple[ParamSpec, list[ParamSpec]]] = []
    standalone_candidates: list[ParamSpec] = []
    targets: set[str] = set()
    try:
        for ps in paramspecs:
            spec = specs[ps["name"]]
            deps = [specs[n] for n in _name_list(ps.get("depends_on"))]
            infs = [specs[n] for n in _name_list(ps.get("inferred_from"))]
            if deps:
                dependencies.append((spec, deps))
                targets.update(d.name for d in deps)
            if infs:
                inferences.append((spec, infs))
                targets.update(i.name for i in infs)
            if not deps and not infs:
                standalone_candidates.append(spec)
    except KeyError as exc:
        raise QCoDeSFormatError(
            f"run description{where} refers to unknown parameter {exc.args[0]!r}"
        ) from exc
    standalones = [s for s in standalone_candidates if s.name not in targets]
    return InterDependencies.from_trees(dependencies, inferences, standalones)


def interdeps_from_new_style(ser: dict[str, Any], where: str = "") -> InterDependencies:
    """New-style dict (``parameters``/``dependencies``/...) -> graph (QCoDeS' ``_from_dict``)."""
    try:
        params = {name: _spec(p, where) for name, p in ser["parameters"].items()}
        deps = [(params[k], [params[v] for v in vals]) for k, vals in ser["dependencies"].items()]
        infs = [(params[k], [params[v] for v in vals]) for k, vals in ser["inferences"].items()]
        stand = [params[n] for n in ser["standalones"]]
    except (KeyError, TypeError, AttributeError) as exc:
        raise QCoDeSFormatError(f"malformed interdependencies in run description{where}") from exc
    return InterDependencies.from_trees(deps, infs, stand)


_NEW_STYLE_KEYS = {"parameters", "dependencies", "inferences", "standalones"}


def _interdeps_any_style(idps: Any, where: str) -> InterDependencies:
    if isinstance(idps, dict) and "paramspecs" in idps:
        return interdeps_from_old_style(list(idps["paramspecs"]), where)
    if isinstance(idps, dict) and set(idps) >= _NEW_STYLE_KEYS:
        return interdeps_from_new_style(idps, where)
    raise QCoDeSFormatError(f"unrecognised interdependencies in run description{where}")


def parse_run_description(text: str, where: str = "") -> RunDescription:
    """Parse a ``runs.run_description`` JSON string of any version.

    Raises:
        QCoDeSFormatError: not JSON, or not a run description.
    """
    try:
        ser = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise QCoDeSFormatError(f"run description{where} is not valid JSON") from exc
    if not isinstance(ser, dict):
        raise QCoDeSFormatError(f"run description{where} is not a JSON object")
    version = ser.get("version")
    if version is not None and not isinstance(version, int):
        raise QCoDeSFormatError(f"run description{where} has a bad version {version!r}")
    # Version >= 2 carries the new-style graph under "interdependencies_"; older ones (and
    # the unversioned/4a formats) under "interdependencies" in either style.
    if version is not None and version >= 2 and "interdependencies_" in ser:
        interdeps = interdeps_from_new_style(ser["interdependencies_"], where)
    elif "interdependencies" in ser:
        interdeps = _interdeps_any_style(ser["interdependencies"], where)
    else:
        raise QCoDeSFormatError(f"run description{where} has no interdependencies")
    shapes = ser.get("shapes") if (version or 0) >= 3 else None
    if shapes is not None and not isinstance(shapes, dict):
        raise QCoDeSFormatError(f"run description{where} has malformed shapes {shapes!r}")
    return RunDescription(interdeps=interdeps, shapes=shapes)


def description_from_layouts(
    conn: ReadOnlyConnection, run_id: int, result_table: str | None
) -> RunDescription:
    """Rebuild a run's description from ``layouts``/``dependencies`` like QCoDeS' 2->3/3->4
    upgrades: setpoints first (in ``dependencies`` row order), then dependents, then the
    rest; the type of each parameter is the declared type of its result-table column."""
    layouts = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT layout_id, parameter, label, unit, inferred_from FROM layouts"
            " WHERE run_id = ? ORDER BY layout_id",
            (run_id,),
        )
    }
    if not layouts:
        return RunDescription(InterDependencies(), source="empty")
    axes: dict[int, list[int]] = {}
    independents: list[int] = []
    dependents: list[int] = []
    for dependent, independent in conn.execute(
        "SELECT dependent, independent FROM dependencies ORDER BY rowid"
    ):
        if dependent in layouts:
            dependents.append(dependent)
        if independent in layouts:
            independents.append(independent)
    for dependent, independent in conn.execute(
        "SELECT dependent, independent FROM dependencies ORDER BY dependent, axis_num"
    ):
        if dependent in layouts:
            axes.setdefault(dependent, []).append(independent)
    declared = _declared_types(conn, result_table) if result_table else {}
    rest = [lid for lid in layouts if lid not in set(independents) | set(dependents)]
    paramspecs: dict[int, dict[str, Any]] = {}
    for layout_id in [*independents, *dependents, *rest]:
        if layout_id in paramspecs:
            continue
        name, label, unit, inferred = layouts[layout_id]
        paramtype = declared.get(name)
        if paramtype is None:
            raise QCoDeSFormatError(
                f"run {run_id}: parameter {name!r} has no column in result table {result_table!r}"
            )
        depends_on = []
        if layout_id in axes:
            try:
                depends_on = [paramspecs[i]["name"] for i in axes[layout_id]]
            except KeyError as exc:
                raise QCoDeSFormatError(f"run {run_id}: broken dependencies table") from exc
        paramspecs[layout_id] = {
            "name": name,
            "paramtype": paramtype,
            "label": label,
            "unit": unit,
            "inferred_from": inferred.split(", ") if inferred else [],
            "depends_on": depends_on,
        }
    interdeps = interdeps_from_old_style(list(paramspecs.values()), f" of run {run_id}")
    return RunDescription(interdeps, source="layouts")


def _declared_types(conn: ReadOnlyConnection, table: str) -> dict[str, str]:
    return {
        row[1]: (row[2] or "").lower()
        for row in conn.execute(f"PRAGMA table_info({quote_identifier(table)})")
    }


def description_from_result_table(
    conn: ReadOnlyConnection, result_table: str
) -> RunDescription | None:
    """Our fallback when QCoDeS recorded no parameters but the result table has columns:
    every column becomes a standalone parameter (declared type ``array``/``complex``/
    ``text`` kept, anything else numeric). None if the table has no data columns."""
    declared = _declared_types(conn, result_table)
    specs = [
        ParamSpec(name=name, type=decl if decl in ("array", "complex", "text") else "numeric")
        for name, decl in declared.items()
        if name != "id" and name.isidentifier()
    ]
    if not specs:
        return None
    return RunDescription(InterDependencies.from_trees(standalones=specs), source="result_table")
