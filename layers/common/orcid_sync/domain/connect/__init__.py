"""Researchers connect their ORCID iD: signed links, the OAuth 3-legged flow, and disconnecting."""
