"""The {{ cookiecutter.converter_name }} converter of etiket_sync_agent: entry point ``{{ cookiecutter.entry_name }}``."""

from .{{ cookiecutter.module_prefix }}_converter import {{ cookiecutter.converter_class }}

__all__ = [{{ cookiecutter.converter_class|jsonify }}]
