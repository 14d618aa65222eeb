"""The parameters of a run and how they relate (our model of QCoDeS' ``InterDependencies_``).

A run has parameters (name, type, label, unit) linked by two kinds of directed edges:
``depends_on`` (a measured parameter -> its setpoints) and ``inferred_from`` (a derived
parameter -> the parameters it is computed from). QCoDeS groups the data by *parameter
tree*: each top-level parameter with its setpoints and the parameters inferred from them.

The order of parameters is significant for the export (it decides the dimension order and
the serialized run description), so the graph keeps insertion order the way QCoDeS'
networkx graph does: nodes in order of first insertion, edges per node in insertion order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

ParamType = Literal["numeric", "array", "complex", "text"]
PARAM_TYPES: tuple[str, ...] = ("numeric", "array", "complex", "text")
EdgeKind = Literal["depends_on", "inferred_from"]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a run. ``type`` is the QCoDeS paramtype (the SQL storage class)."""

    name: str
    type: str
    label: str = ""
    unit: str = ""

    def to_dict(self) -> dict[str, str]:
        """QCoDeS' ``ParamSpecBase`` dict (key order as QCoDeS writes it)."""
        return {"name": self.name, "paramtype": self.type, "label": self.label, "unit": self.unit}


@dataclass
class InterDependencies:
    """Parameters and their ``depends_on``/``inferred_from`` edges, insertion ordered."""

    _params: dict[str, ParamSpec] = field(default_factory=dict)
    # node -> {successor: kind}, both levels insertion ordered
    _out: dict[str, dict[str, EdgeKind]] = field(default_factory=dict)
    _in: dict[str, dict[str, EdgeKind]] = field(default_factory=dict)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_trees(
        cls,
        dependencies: Iterable[tuple[ParamSpec, Sequence[ParamSpec]]] = (),
        inferences: Iterable[tuple[ParamSpec, Sequence[ParamSpec]]] = (),
        standalones: Iterable[ParamSpec] = (),
    ) -> InterDependencies:
        """Build the graph the way QCoDeS does: dependencies, then inferences, then
        standalones; within each, the parameter then its targets."""
        graph = cls()
        for kind, trees in (("depends_on", dependencies), ("inferred_from", inferences)):
            for param, targets in trees:
                for spec in (param, *targets):
                    graph._add_param(spec)
                for target in targets:
                    graph._add_edge(param.name, target.name, kind)  # type: ignore[arg-type]
        for spec in standalones:
            graph._add_param(spec)
        return graph

    def _add_param(self, spec: ParamSpec) -> None:
        # Re-adding a name keeps its position and takes the newer spec (as networkx does).
        self._params[spec.name] = spec
        self._out.setdefault(spec.name, {})
        self._in.setdefault(spec.name, {})

    def _add_edge(self, source: str, target: str, kind: EdgeKind) -> None:
        self._out[source][target] = kind
        self._in[target][source] = kind

    # -- basic views ----------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._params)

    @property
    def paramspecs(self) -> tuple[ParamSpec, ...]:
        return tuple(self._params.values())

    def __getitem__(self, name: str) -> ParamSpec:
        return self._params[name]

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __len__(self) -> int:
        return len(self._params)

    def _tree_by_kind(self, kind: EdgeKind) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for node, targets in self._out.items():
            selected = tuple(t for t, k in targets.items() if k == kind)
            if selected:
                out[node] = selected
        return out

    @property
    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """Dependent parameter -> its setpoints (in axis order), node order."""
        return self._tree_by_kind("depends_on")

    @property
    def inferences(self) -> dict[str, tuple[str, ...]]:
        """Inferred parameter -> the parameters it is inferred from, node order."""
        return self._tree_by_kind("inferred_from")

    @property
    def standalones(self) -> tuple[str, ...]:
        """Parameters with no edge at all, node order.

        (QCoDeS returns a frozenset here, so its order follows string hashes and varies
        between processes; we keep the stable node order.)
        """
        return tuple(n for n in self._params if not self._out[n] and not self._in[n])

    # -- tree queries (QCoDeS semantics) -------------------------------------------------

    def _has_edge_of(self, name: str, kind: EdgeKind) -> bool:
        return kind in self._out[name].values() or kind in self._in[name].values()

    def _reachable(self, start: str, kind: EdgeKind, *, reverse: bool = False) -> set[str]:
        edges = self._in if reverse else self._out
        seen: set[str] = set()
        stack = [start]
        while stack:
            node = stack.pop()
            for nxt, k in edges[node].items():
                if k == kind and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        seen.discard(start)
        return seen

    def find_all_parameters_in_tree(self, name: str) -> set[str]:
        """``name``, everything it depends on (transitively), and everything linked by
        inference to any of those (one pass, exactly as QCoDeS collects a tree)."""
        collected = {name}
        if self._has_edge_of(name, "depends_on"):
            collected |= self._reachable(name, "depends_on")
        for node in list(collected):
            if self._has_edge_of(node, "inferred_from"):
                collected |= self._reachable(node, "inferred_from")
                collected |= self._reachable(node, "inferred_from", reverse=True)
        return collected

    def tree(self, name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        """``(name, its setpoints in axis order, the other tree members sorted by name)``."""
        members = self.find_all_parameters_in_tree(name)
        members.discard(name)
        deps = self.dependencies.get(name, ())
        members.difference_update(deps)
        return name, deps, tuple(sorted(members))

    @property
    def top_level_parameters(self) -> tuple[str, ...]:
        """Parameters that head a tree (QCoDeS' rule), sorted by name."""
        in_dep = [n for n in self._params if self._has_edge_of(n, "depends_on")]
        in_inf = [n for n in self._params if self._has_edge_of(n, "inferred_from")]
        inference_top = {n for n in in_inf if "inferred_from" not in self._in[n].values()}
        inferred_from_others = {n for n in in_inf if "inferred_from" in self._out[n].values()}
        dependency_top = {
            n for n in in_dep if "depends_on" not in self._in[n].values()
        } - inferred_from_others
        standalone_top = set(self.standalones)
        in_dependency_trees: set[str] = set()
        for n in dependency_top:
            in_dependency_trees |= self.find_all_parameters_in_tree(n)
        top = dependency_top | (inference_top - in_dependency_trees) | standalone_top
        return tuple(sorted(top))

    # -- serialization (QCoDeS storage format) -----------------------------------------

    def to_new_style_dict(self) -> dict[str, object]:
        """QCoDeS' ``InterDependencies_._to_dict()`` (the ``interdependencies_`` entry)."""
        return {
            "parameters": {n: p.to_dict() for n, p in self._params.items()},
            "dependencies": {k: list(v) for k, v in self.dependencies.items()},
            "inferences": {k: list(v) for k, v in self.inferences.items()},
            "standalones": list(self.standalones),
        }

    def old_style_paramspecs(self) -> list[dict[str, object]]:
        """QCoDeS' old-style ``ParamSpec`` dicts (``new_to_old``): setpoints first, then
        inference sources, then the rest in node order, each with its links."""
        order: dict[str, None] = {}
        for targets in self.dependencies.values():
            order.update(dict.fromkeys(targets))
        for targets in self.inferences.values():
            order.update(dict.fromkeys(targets))
        order.update(dict.fromkeys(self._params))
        depends = self.dependencies
        inferred = self.inferences
        return [
            {
                **self._params[name].to_dict(),
                "inferred_from": list(inferred.get(name, ())),
                "depends_on": list(depends.get(name, ())),
            }
            for name in order
        ]
