"""Feeds from the repository: harvest its assets over OAI-PMH, map each record with a profile, upsert or withdraw."""
