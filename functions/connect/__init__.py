"""The public connect pages and the ORCID OAuth callback (one Lambda)."""
