"""Built-in backends, one subpackage each, registered through our own entry points."""
