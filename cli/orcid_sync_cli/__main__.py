"""``python -m orcid_sync_cli``: the same as ``orcid-sync``."""

from orcid_sync_cli.main import cli

cli(prog_name="orcid-sync")
