"""``python -m orcid_sync_local up``: the same as ``orcid-sync-local up``."""

from orcid_sync_local.cli import local

local(prog_name="orcid-sync-local")
