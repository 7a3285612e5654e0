"""ORCID tokens from legacy systems: rows, checks, encryption-facing values, imports (API and uploaded files)."""
