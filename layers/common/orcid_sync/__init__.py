"""orcid-sync: the shared library behind every Lambda function (the common layer)."""

__version__ = "0.1.0"
