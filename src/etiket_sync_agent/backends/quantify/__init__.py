"""quantify: Quantify (quantify-core / quantify) datadirs, read without quantify."""

from etiket_sync_agent.backends.quantify.backend import QuantifyBackend, QuantifyConfig

__all__ = ["QuantifyBackend", "QuantifyConfig"]
