"""The agent's contract checks for backends, run against {{ cookiecutter.sync_class }}."""

from etiket_sync_agent.testing import BackendContractTests

from {{ cookiecutter.import_name }} import {{ cookiecutter.sync_class }}


class Test{{ cookiecutter.sync_class }}(BackendContractTests):
    backend_class = {{ cookiecutter.sync_class }}

    # To also synchronize a small sample into a temporary store, return its config:
    # def sample_config(self, tmp_path):
{%- if cookiecutter.base == "database" %}
    #     return {"database_path": str(make_sample_database(tmp_path))}
{%- else %}
    #     return {"root_directory": str(make_sample_folders(tmp_path))}
{%- endif %}
