{%- set c = cookiecutter -%}
"""The {{ c.converter_name }} file converter: the one class to implement.

The folderbase backend applies it to the matching files of every dataset whose
``_QH_dataset_info.yaml`` lists it (``converters: [{{ c.entry_name }}]``) and stores the
converted file next to the original. Other backends call it with
``ctx.convert({{ c.entry_name|jsonify }}, path, output_dir)``.

Fill in the parts marked ``TODO``, run ``pytest``, and install the package:
``etiket-sync plugins`` then lists the converter as ``{{ c.entry_name }}``.
"""

from __future__ import annotations

from pathlib import Path

from etiket_sync_agent.plugins import FileConverter


class {{ c.converter_class }}(FileConverter):
    """Converts {% if c.input_type %}``{{ c.input_type }}`` files to ``{{ c.output_type }}``{% else %}files from one format to another{% endif %}."""

{%- if c.input_type %}

    #: the suffix of the files it reads (with the dot; matched case-insensitively)
    input_type = {{ c.input_type|jsonify }}
    #: the suffix of the files it writes
    output_type = {{ c.output_type|jsonify }}
{%- else %}

    # TODO: the suffix of the files it reads, with the dot (e.g. ".csv"; matched
    # case-insensitively), and the suffix of the files it writes (e.g. ".hdf5")
    input_type = ""
    output_type = ""
{%- endif %}

    def convert(self, input_path: Path, output_dir: Path) -> Path:
        """Write the converted ``input_path`` into ``output_dir`` and return its path.

        Never modify ``input_path``. Raise ``ValueError`` with a clear message for input
        that cannot be converted: the dataset's sync fails with that message.
        """
        # TODO: read input_path, write the converted data to
        #     output_path = output_dir / (input_path.stem + self.output_type)
        # and return output_path.
        raise NotImplementedError("TODO: implement {{ c.converter_class }}.convert")
