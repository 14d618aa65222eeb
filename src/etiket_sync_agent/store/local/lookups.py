"""Catalog queries: the prepared statements of the hot paths and the lookups by name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    bindparam,
    func,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session, selectinload

from etiket_sync_agent.errors import NotFoundError
from etiket_sync_agent.store.catalog import Dataset, File, FileVersion, Scope

SCOPE_HINT = "create it with `etiket-sync scopes create NAME`"
DATASET_HINT = "list datasets with `etiket-sync datasets list`"
DATASETS = Dataset.__table__
FILES = File.__table__
VERSIONS = FileVersion.__table__

# The per-item hot paths (upsert_dataset, upload_file) use these Core statements, built
# once: executing them costs SQLAlchemy a compiled-cache lookup, where ORM objects and
# freshly built statements cost it several times more than SQLite does.
SCOPE_ID = select(Scope.id).where(Scope.name == bindparam("scope_name"))
DATASET_BY_UUID = select(DATASETS).where(DATASETS.c.uuid == bindparam("q_uuid"))
DATASET_BY_ALT_UID = select(DATASETS).where(
    DATASETS.c.scope_id == bindparam("q_scope_id"), DATASETS.c.alt_uid == bindparam("q_alt_uid")
)
UPDATE_DATASET = update(DATASETS).where(DATASETS.c.uuid == bindparam("q_uuid"))
FILE_FOR_UPDATE = (
    select(FILES)
    .where(FILES.c.dataset_uuid == bindparam("q_uuid"), FILES.c.name == bindparam("q_name"))
    .with_for_update()
)
UPDATE_FILE = update(FILES).where(FILES.c.id == bindparam("q_id"))
LATEST_VERSION = (
    select(VERSIONS)
    .where(VERSIONS.c.file_id == bindparam("q_file_id"))
    .order_by(VERSIONS.c.version.desc())
    .limit(1)
)
VERSIONS_OF = (
    select(VERSIONS)
    .where(VERSIONS.c.file_id == bindparam("q_file_id"))
    .order_by(VERSIONS.c.version)
)
UPDATE_VERSION = update(VERSIONS).where(VERSIONS.c.id == bindparam("q_id"))


def one(session: Session, statement: Any, params: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of a prepared Core statement, as a dict (None if there is none)."""
    row = session.execute(statement, params).mappings().first()
    return None if row is None else dict(row)


def scope_by_name(session: Session, name: str) -> Scope | None:
    return session.scalar(select(Scope).where(Scope.name == name))


def require_scope_id(session: Session, name: str) -> int:
    scope_id = session.scalar(SCOPE_ID, {"scope_name": name})
    if scope_id is None:
        raise NotFoundError(f"scope {name!r} does not exist", hint=SCOPE_HINT)
    return scope_id


def require_scope(session: Session, name: str) -> Scope:
    scope = scope_by_name(session, name)
    if scope is None:
        raise NotFoundError(f"scope {name!r} does not exist", hint=SCOPE_HINT)
    return scope


def count_datasets(session: Session, scope_id: int) -> int:
    query = select(func.count()).select_from(Dataset).where(Dataset.scope_id == scope_id)
    return session.scalar(query) or 0


def dataset_by_alt_uid(session: Session, scope_id: int, alt_uid: str) -> Dataset | None:
    return session.scalar(
        select(Dataset).where(Dataset.scope_id == scope_id, Dataset.alt_uid == alt_uid)
    )


def require_dataset(session: Session, uuid: str) -> Dataset:
    row = session.get(Dataset, uuid)
    if row is None:
        raise NotFoundError(f"dataset {uuid} does not exist", hint=DATASET_HINT)
    return row


def files_of(session: Session, uuid: str) -> list[File]:
    query = (
        select(File)
        .where(File.dataset_uuid == uuid)
        .order_by(File.name)
        .options(selectinload(File.versions))
    )
    return list(session.scalars(query))


def require_version(session: Session, uuid: str, name: str, version: int | None) -> FileVersion:
    require_dataset(session, uuid)
    query = (
        select(FileVersion)
        .join(File)
        .where(File.dataset_uuid == uuid, File.name == name)
        .order_by(FileVersion.version.desc())
        .limit(1)
    )
    if version is not None:
        query = query.where(FileVersion.version == version)
    row = session.scalar(query)
    if row is None:
        what = f"file {name!r}" if version is None else f"version {version} of file {name!r}"
        raise NotFoundError(
            f"dataset {uuid} has no {what}", hint="see its files with `etiket-sync datasets show`"
        )
    return row


# -- dataset search ---------------------------------------------------------------------
#: the listing order: newest collected first, undated last, then newest created (the
#: index ix_datasets_newest of migration 0002 serves it, so a page costs no sort)
NEWEST_FIRST = (Dataset.collected.desc().nulls_last(), Dataset.created.desc(), Dataset.uuid)

# Tags and attributes are JSON columns (portable across both databases); the tests of a
# dataset's JSON need each database's own functions. SQLite: json_each; PostgreSQL: the
# json(b) operators (the columns are ``json`` there).
_TAG = {
    "sqlite": "EXISTS (SELECT 1 FROM json_each(datasets.tags) AS t WHERE t.value = :q_tag)",
    "postgresql": "CAST(datasets.tags AS jsonb) @> jsonb_build_array(CAST(:q_tag AS text))",
}
_HAS_ATTRIBUTE = {
    "sqlite": "EXISTS (SELECT 1 FROM json_each(datasets.attributes) AS a "
    "WHERE a.key = :q_attr_key)",
    "postgresql": "json_extract_path(datasets.attributes, CAST(:q_attr_key AS text)) IS NOT NULL",
}
# the value as text: strings as they are, numbers as JSON writes them, true/false
_ATTRIBUTE_IS = {
    "sqlite": "EXISTS (SELECT 1 FROM json_each(datasets.attributes) AS a "
    "WHERE a.key = :q_attr_key AND (CASE a.type WHEN 'true' THEN 'true' "
    "WHEN 'false' THEN 'false' ELSE CAST(a.value AS TEXT) END) = :q_attr_value)",
    "postgresql": "json_extract_path_text(datasets.attributes, CAST(:q_attr_key AS text)) "
    "= CAST(:q_attr_value AS text)",
}


def _like_pattern(fragment: str) -> str:
    """``%fragment%`` with LIKE's wildcards in ``fragment`` taken literally."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json_test(dialect: str, sql: dict[str, str], **params: Any) -> ColumnElement[bool]:
    try:
        clause = sql[dialect]
    except KeyError:
        from etiket_sync_agent.errors import StoreError

        raise StoreError(f"searching tags and attributes is not supported on {dialect}") from None
    return text(clause).bindparams(**params)  # type: ignore[return-value]


def _json_text_hint(dialect: str, column: Any, word: str) -> list[ColumnElement[bool]]:
    """On SQLite, a cheap first test for a JSON test of ``word``: the stored JSON text
    contains ``"word"`` (LIKE is a plain text scan, half the cost of ``json_each`` per row
    when few rows match). Only for plain ASCII words, which every JSON writer stores as
    they are; it narrows, the JSON test still decides."""
    plain = word.isascii() and word.isprintable() and '"' not in word and "\\" not in word
    if dialect != "sqlite" or not plain:
        return []
    as_text = type_coerce(column, Text())  # the stored text itself, the pattern as text
    return [as_text.like(_like_pattern(f'"{word}"'), escape="\\")]


def _attribute_contained(key: str, value: str) -> ColumnElement[bool]:
    """PostgreSQL: ``attributes @> {key: value}`` for each JSON value whose text is
    ``value`` (the string, and the number or boolean it spells), which the GIN index
    ix_datasets_attributes_pg answers; it narrows, the text comparison still decides."""
    import json
    import math

    candidates: list[Any] = [value]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if isinstance(parsed, (bool, int)) or (isinstance(parsed, float) and math.isfinite(parsed)):
        candidates.append(parsed)
    params = {f"q_attr_c{n}": json.dumps({key: c}) for n, c in enumerate(candidates)}
    tests = " OR ".join(
        f"CAST(datasets.attributes AS jsonb) @> CAST(:{name} AS jsonb)" for name in params
    )
    return text(f"({tests})").bindparams(**params)  # type: ignore[return-value]


def _rows(
    session: Session, where: list[Any], limit: int | None, offset: int = 0
) -> list[tuple[dict[str, Any], str]]:
    """(column values, scope name) of the datasets matching ``where``, NEWEST_FIRST."""
    query = (
        select(DATASETS, Scope.name.label("scope_name"))
        .join(Scope, Scope.id == DATASETS.c.scope_id)
        .where(*where)
        .order_by(*NEWEST_FIRST)
        .limit(limit)
    )
    if offset:
        query = query.offset(offset)
    out = []
    for row in session.execute(query).mappings():
        values = dict(row)
        out.append((values, values.pop("scope_name")))
    return out


def match_datasets(
    session: Session, ref: str, min_prefix: int, limit: int | None
) -> list[tuple[dict[str, Any], str]]:
    """Rows (column values, scope name) ``ref`` may name (``DatasetStore.match_datasets``):
    the exact ``alt_uid`` ones, then uuid or name prefixes."""
    exact = _rows(session, [DATASETS.c.alt_uid == ref], limit)
    key = ref.lower()
    prefix = _like_pattern(key)[1:]  # "key%": starts with
    tests = [DATASETS.c.name.ilike(prefix, escape="\\")]
    if len(key) >= min_prefix:
        tests.append(DATASETS.c.uuid.like(prefix, escape="\\"))
    seen = {values["uuid"] for values, _ in exact}
    prefixed = _rows(session, [or_(*tests)], limit)
    return (exact + [r for r in prefixed if r[0]["uuid"] not in seen])[:limit]


def search_datasets(
    session: Session,
    *,
    scope: str | None = None,
    source: str | None = None,
    text_in_name: str | None = None,
    tag: str | None = None,
    attribute: tuple[str, str | None] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[tuple[dict[str, Any], str]]:
    """The rows (column values, scope name) of the datasets matching every filter given,
    in :data:`NEWEST_FIRST` order (see ``DatasetStore.list_datasets`` for the filters)."""
    dialect = session.get_bind().dialect.name
    where: list[ColumnElement[bool]] = []
    if scope is not None:
        where.append(DATASETS.c.scope_id == require_scope_id(session, scope))
    if source is not None:
        where.append(DATASETS.c.source == source)
    if text_in_name:
        where.append(DATASETS.c.name.ilike(_like_pattern(text_in_name), escape="\\"))
    if tag is not None:
        where += _json_text_hint(dialect, DATASETS.c.tags, tag)
        where.append(_json_test(dialect, _TAG, q_tag=tag))
    if attribute is not None:
        key, value = attribute
        where += _json_text_hint(dialect, DATASETS.c.attributes, key)
        if value is not None and dialect == "postgresql":
            where.append(_attribute_contained(key, value))
        if value is None:
            where.append(_json_test(dialect, _HAS_ATTRIBUTE, q_attr_key=key))
        else:
            where.append(_json_test(dialect, _ATTRIBUTE_IS, q_attr_key=key, q_attr_value=value))
    if since is not None:
        where.append(DATASETS.c.collected >= since)
    if until is not None:
        where.append(DATASETS.c.collected < until)
    return _rows(session, where, limit, offset)
