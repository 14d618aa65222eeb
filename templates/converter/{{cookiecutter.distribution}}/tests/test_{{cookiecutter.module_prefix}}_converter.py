"""The agent's contract checks for converters, run against {{ cookiecutter.converter_class }}.

These tests fail until the converter works: ``test_convert_sample`` converts the file
that ``sample_input`` writes and checks the result.
"""

import pytest
from etiket_sync_agent.testing import ConverterContractTests

from {{ cookiecutter.import_name }} import {{ cookiecutter.converter_class }}


class Test{{ cookiecutter.converter_class }}(ConverterContractTests):
    converter_class = {{ cookiecutter.converter_class }}
    entry_name = {{ cookiecutter.entry_name|jsonify }}

    def sample_input(self, tmp_path):
        """Write a small input file under ``tmp_path`` and return its path, e.g.

            path = tmp_path / "sample{{ cookiecutter.input_type or '.ext' }}"
            path.write_text(...)
            return path

        Required: the tests fail until it is written and the converter converts it.
        """
        pytest.fail("TODO: write a sample input file in sample_input() (tests/)")
