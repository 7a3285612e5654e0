"""The daily pull: which researchers, which of their ORCID works become CSV rows, the CSV, and the run's end."""
