{%- set c = cookiecutter -%}
{%- set database = c.base == "database" -%}
"""The {{ c.backend_name }} sync backend: the one class to implement.

{% if database -%}
A database backend: in every pass the agent asks ``get_new_datasets`` for the datasets
in the database, keeps one item per dataset, and calls ``sync_dataset_normal`` for each
item that is not synchronized yet.
{%- else -%}
A file backend: the agent scans (and watches) the folder ``root_path()``, where every
folder {% if c.level == -1 %}holding a ``_QH_dataset_info.yaml`` file{% elif c.level == 1 %}directly inside it{% else %}{{ c.level|int }} levels below it{% endif %} is one dataset, and calls
``sync_dataset_normal`` for each new dataset and again when its files change.
{%- endif %}
{%- if c.live_sync %}
While the newest dataset is still being measured (``check_live_dataset``), the agent
calls ``sync_dataset_live`` instead, about every second.
{%- endif %}
Discovery, retries, the sync state and the store are the agent's job.

Fill in the methods marked ``TODO`` (they raise ``NotImplementedError`` until then), run
``pytest``, and install the package: ``etiket-sync plugins`` then lists the backend as
``{{ c.entry_name }}``.
"""

from __future__ import annotations
{% if not database %}
from pathlib import Path
{% endif %}
from etiket_sync_agent.plugins import (
    {% if database %}DatabaseBackend{% else %}FileBackend{% endif %},
{%- if database %}
    NewItem,
{%- endif %}
    ScopeRequirement,
    SyncContext,
    SyncItem,
)

from .{{ c.module_prefix }}_config_class import {{ c.config_class }}


class {{ c.sync_class }}({% if database %}DatabaseBackend{% else %}FileBackend{% endif %}):
    """Synchronizes {{ c.backend_name }} datasets into the dataset store."""

    #: the backend's name in ``etiket-sync add-source {{ c.entry_name }} NAME`` (the entry point)
    sync_agent_name = {{ c.entry_name|jsonify }}
    config_class = {{ c.config_class }}
    #: REQUIRED: every source names its scope (``--scope``); OPTIONAL: the scope may be
    #: omitted (the store's default scope); DISABLED: the backend picks the scope of each
    #: dataset{% if database %} (``NewItem.scope_identifier``){% endif %}
    scope_requirement = ScopeRequirement.{{ c.default_scope }}
    supports_scope_mapping = False
    #: True: ``check_live_dataset`` and ``sync_dataset_live`` are implemented
    live_sync_implemented = {{ "True" if c.live_sync else "False" }}
{%- if not database %}
    #: -1: every folder holding _QH_dataset_info.yaml is a dataset; 0: every file at any
    #: depth that ``accepts``; 1: every folder in the root folder; N: every folder N
    #: levels below the root folder
    level = {{ c.level|int }}
    #: True: each dataset is a single file (at depth ``level``) instead of a folder
    is_single_file = {{ "True" if c.level|int == 0 else "False" }}
{%- endif %}

    config: {{ c.config_class }}
{%- if database %}

    def source_identity(self) -> str:
        """What this source reads: a second source reading the same is refused."""
        return f"{self.sync_agent_name}:{self.config.database_path}"

    def get_new_datasets(self, last_item: SyncItem | None) -> list[NewItem]:
        """The datasets of the database, at least those after ``last_item`` (None at first).

        ``last_item`` is the known dataset with the highest priority. Returning datasets
        the agent already knows is harmless: they are ignored.
        """
        # TODO: read the datasets in self.config.database_path that come after
        # last_item.identifier and return one NewItem per dataset, for example
        #     NewItem(identifier=str(run_id), priority=float(run_id))
        # The identifier must be unique and never change; higher priorities sync first.
{%- if c.default_scope == "DISABLED" %}
        # scope_requirement is DISABLED: also set NewItem(scope_identifier=...), the scope
        # the dataset belongs to.
{%- endif %}
        raise NotImplementedError("TODO: implement {{ c.sync_class }}.get_new_datasets")
{%- else %}

    def root_path(self) -> Path:
        """The folder the agent scans and watches for datasets."""
        return self.config.root_directory

    def source_identity(self) -> str:
        """What this source reads: a second source reading the same is refused."""
        return f"{self.sync_agent_name}:{self.config.root_directory}"
{%- endif %}

    def sync_dataset_normal(self, item: SyncItem, ctx: SyncContext) -> None:
        """Write the complete dataset {% if database %}``item.identifier``{% else %}in the folder ``item.path``{% endif %} into the store.

        Runs again when the dataset changes, so it must be idempotent (the store keeps
        unchanged files once). Raise ``etiket_sync_agent.plugins.DatasetError(message,
        retryable=False)`` for data that will never synchronize; any other exception is
        recorded on the item and retried later.
        """
        # TODO: read the dataset {% if database %}item.identifier{% else %}in the folder item.path{% endif %}, then write it through ctx:
        #     ctx.create_or_update_dataset(name=..., collected=..., attributes={...})
        #     ctx.upload_xarray(ds)                # an xarray.Dataset, stored as HDF5
        #     ctx.upload_file(path, name=...)      # any file
        # Group the steps with `with ctx.task("reading data"):`; they show in
        # `etiket-sync items SOURCE`.
{%- if not database and c.level == -1 %}
        # The dataset's _QH_dataset_info.yaml (name, collected, attributes, ...):
        #     etiket_sync_agent.backends.folderbase.read_dataset_info(item.path)
{%- endif %}
{%- if c.default_scope == "DISABLED" and not database %}
        # scope_requirement is DISABLED: pass the scope of the dataset with
        # ctx.create_or_update_dataset(..., scope=...).
{%- endif %}
        raise NotImplementedError("TODO: implement {{ c.sync_class }}.sync_dataset_normal")
{%- if c.live_sync %}

    def check_live_dataset(self, item: SyncItem) -> bool:
        """Whether the dataset of ``item`` is still being measured (written to)."""
        # TODO: return True while the measurement is running (for example: no end time
        # recorded yet, or a lock/marker file is present), else False.
        raise NotImplementedError("TODO: implement {{ c.sync_class }}.check_live_dataset")

    def sync_dataset_live(self, item: SyncItem, ctx: SyncContext) -> None:
        """Upload what the running measurement has written so far.

        Called repeatedly while ``check_live_dataset`` is True; ``sync_dataset_normal``
        runs once when it is finished.
        """
        # TODO: like sync_dataset_normal, uploading with live=True:
        #     ctx.upload_xarray(ds, live=True) / ctx.upload_file(path, live=True)
        raise NotImplementedError("TODO: implement {{ c.sync_class }}.sync_dataset_live")
{%- endif %}
