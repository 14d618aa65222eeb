"""File converters: turn one file into another format during a sync.

A converter is registered in the entry-point group ``etiket_sync_agent.converters`` and
chosen by its registered name (from a dataset's ``converters`` list) or by suffix match
(``input_type``), never by a module path read from a data file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar


class FileConverter(ABC):
    """Converts files whose suffix is ``input_type`` (e.g. ``".csv"``) to ``output_type``."""

    input_type: ClassVar[str]
    output_type: ClassVar[str]

    @abstractmethod
    def convert(self, input_path: Path, output_dir: Path) -> Path:
        """Write the converted file into ``output_dir`` and return its path.

        Must not modify ``input_path``. Raise ``ValueError`` with a clear message for input
        it cannot convert.
        """

    @classmethod
    def matches(cls, path: Path) -> bool:
        return path.name.lower().endswith(cls.input_type.lower())
