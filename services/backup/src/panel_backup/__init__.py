"""panel-backup: streaming, encrypted, verified backups of the panel's database, files and config."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("panel-backup")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
