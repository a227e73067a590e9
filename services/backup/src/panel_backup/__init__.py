"""panel-backup: streaming, encrypted, verified backups of the panel's database, files and config."""

# A literal, not importlib.metadata (about a tenth of a second at every start on a busy node); a test
# keeps it equal to the version in pyproject.toml.
__version__ = "0.1.0"
