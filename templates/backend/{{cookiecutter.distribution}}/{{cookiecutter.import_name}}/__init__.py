"""The {{ cookiecutter.backend_name }} backend of etiket_sync_agent: entry point ``{{ cookiecutter.entry_name }}``."""

from .{{ cookiecutter.module_prefix }}_config_class import {{ cookiecutter.config_class }}
from .{{ cookiecutter.module_prefix }}_sync_class import {{ cookiecutter.sync_class }}

__all__ = [{{ cookiecutter.config_class|jsonify }}, {{ cookiecutter.sync_class|jsonify }}]
