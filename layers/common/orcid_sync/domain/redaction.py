"""Blanking out secrets in text that is stored or sent (job reports, notification emails)."""

from __future__ import annotations

import re

_SECRETS = (
    re.compile(r"(?i)\b(bearer\s+)[^\s,;\"']+"),
    re.compile(r"(?i)\b((?:access|refresh)[_-]?token[\"']?\s*[:=]\s*[\"']?)[^\s,;\"'}]+"),
)


def redact(text: str) -> str:
    """Blank out anything shaped like a bearer token, in case an error message quoted a request."""
    for pattern in _SECRETS:
        text = pattern.sub(r"\1[redacted]", text)
    return text
