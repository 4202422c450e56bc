"""Zvans: an open-source contact center."""

__version__ = "0.1.0"
