"""The agent's contract checks for converters, run against {{ cookiecutter.converter_class }}."""

from etiket_sync_agent.testing import ConverterContractTests

from {{ cookiecutter.import_name }} import {{ cookiecutter.converter_class }}


class Test{{ cookiecutter.converter_class }}(ConverterContractTests):
    converter_class = {{ cookiecutter.converter_class }}
    entry_name = {{ cookiecutter.entry_name|jsonify }}

    # To also convert a real file, return the path of a small sample input:
    # def sample_input(self, tmp_path):
    #     path = tmp_path / "sample{{ cookiecutter.input_type or '.ext' }}"
    #     path.write_text(...)
    #     return path
