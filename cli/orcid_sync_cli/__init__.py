"""The ``orcid-sync`` admin command line: its own package (``orcid-sync-cli``), not part of the Lambda layer."""

__version__ = "0.1.0"
