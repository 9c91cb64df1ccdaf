"""The installed package version (from its metadata; the source tree's when not installed)."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("qsim_topo")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
