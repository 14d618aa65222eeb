"""The settings of one {{ cookiecutter.backend_name }} source.

``etiket-sync add-source {{ cookiecutter.entry_name }} NAME --set key=value ...`` builds a
``{{ cookiecutter.config_class }}`` from the ``--set`` values (converted to the field types)
and calls its ``validate()``; nothing is saved if either fails. Field types: ``str``, ``int``,
``float``, ``bool``, ``pathlib.Path``, ``dict``, ``list`` (or ``X | None``). Describe each
field with ``metadata={"help": ...}`` (shown by ``etiket-sync plugins``) and mark passwords
with ``metadata={"secret": True}`` (never shown or logged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class {{ cookiecutter.config_class }}:
    """The config of one {{ cookiecutter.backend_name }} source."""

{%- if cookiecutter.base == "database" %}

    database_path: Path = field(metadata={"help": "the database file to synchronize"})
{%- else %}

    root_directory: Path = field(metadata={"help": "the folder holding the datasets"})
    is_server_folder: bool = field(
        default=False,
        metadata={"help": "a network folder: poll it instead of watching file-system events"},
    )
{%- endif %}
    # TODO: add the settings your backend needs, for example
    # password: str = field(default="", metadata={"help": "...", "secret": True})

    def validate(self) -> None:
        """Refuse well-typed but wrong values: raise ValueError with a clear message."""
{%- if cookiecutter.base == "database" %}
        self.database_path = Path(self.database_path).expanduser().resolve()
        if not self.database_path.is_file():
            raise ValueError(f"database_path {self.database_path} is not a file")
{%- else %}
        self.root_directory = Path(self.root_directory).expanduser().resolve()
        if not self.root_directory.is_dir():
            raise ValueError(f"root_directory {self.root_directory} is not a folder")
{%- endif %}
