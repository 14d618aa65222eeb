"""etiket_sync_agent: discover lab measurement datasets and sync them into a dataset store."""

__version__ = "0.1.0"
