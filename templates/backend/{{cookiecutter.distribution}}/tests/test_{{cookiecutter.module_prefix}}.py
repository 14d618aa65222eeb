"""The agent's contract checks for backends, run against {{ cookiecutter.sync_class }}.

These tests fail until the backend works: ``test_sync_sample`` synchronizes the sample
that ``sample_config`` writes, end to end, with the real engine and store.
"""

import pytest
from etiket_sync_agent.testing import BackendContractTests

from {{ cookiecutter.import_name }} import {{ cookiecutter.sync_class }}


class Test{{ cookiecutter.sync_class }}(BackendContractTests):
    backend_class = {{ cookiecutter.sync_class }}

    def sample_config(self, tmp_path):
        """Write a small sample of your data under ``tmp_path`` and return the config of
        a source that reads it, e.g.
{%- if cookiecutter.base == "database" %}
        ``return {"database_path": str(make_sample_database(tmp_path))}``.
{%- else %}
        ``return {"root_directory": str(make_sample_folders(tmp_path))}``.
{%- endif %}
        Required: the tests fail until it is written and the backend synchronizes it.
        """
        pytest.fail("TODO: write a sample of your data in sample_config() (tests/)")
