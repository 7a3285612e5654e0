"""The ``orcid-sync`` admin command line (not part of the Lambda layer)."""
