"""Built-in file converters, registered through our own entry points."""
