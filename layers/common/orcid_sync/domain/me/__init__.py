"""A researcher's own page ("My ORCID"): signing in with ORCID, what the repository sent and will send, and why."""
