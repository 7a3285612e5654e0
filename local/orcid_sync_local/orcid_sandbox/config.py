"""Configuration of the local ORCID sandbox: registered clients, rate limit, clock and scale."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CLIENT_ID_PATTERN = re.compile(r"^APP-[0-9A-Za-z]{16}$")
DEFAULT_MAX_WORKS = 10_000


@dataclass(frozen=True)
class RegisteredClient:
    """A member API client registered with the sandbox (as in ORCID's developer tools)."""

    client_id: str
    client_secret: str
    redirect_uris: Sequence[str]
    name: str

    def __post_init__(self) -> None:
        if not CLIENT_ID_PATTERN.match(self.client_id):
            raise ValueError(f"client_id must be APP- followed by 16 letters or digits, got {self.client_id!r}")
        if not self.client_secret:
            raise ValueError("client_secret must not be empty")
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))

    def allows_redirect_uri(self, redirect_uri: str) -> bool:
        """ORCID's rule: an exact match, or a bare-host registration allows any path on that host."""
        return redirect_uri_matches(self.redirect_uris, redirect_uri)


def redirect_uri_matches(registered: Sequence[str], requested: str) -> bool:
    """Whether `requested` matches one of the `registered` redirect URIs."""
    if not requested:
        return False
    wanted = urlsplit(requested)
    for candidate in registered:
        if candidate == requested:
            return True
        allowed = urlsplit(candidate)
        bare_host = allowed.path in ("", "/") and not allowed.query and not allowed.fragment
        same_host = allowed.scheme.lower() == wanted.scheme.lower() and allowed.netloc.lower() == wanted.netloc.lower()
        if bare_host and same_host:
            return True
    return False


@dataclass
class SandboxConfig:
    """Everything the sandbox can be started with; rate limit and faults can also change at run time."""

    clients: list[RegisteredClient] = field(default_factory=list)
    rate: float = 24.0
    burst: int = 40
    # Sandbox time runs `time_scale` times faster than `clock`: token refill, code expiry and latency all scale.
    time_scale: float = 1.0
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # Base of Location headers and iD/client URIs; None uses the URL the request came in on.
    public_base_url: str | None = None
    max_works_per_record: int = DEFAULT_MAX_WORKS
    fault_seed: int | None = None
    # ORCID's XSDs and enums.json; None means $ORCID_MODEL_DIR, else shared/orcid-model beside the repository.
    orcid_model_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError("rate must be >= 0 (0 turns the rate limit off)")
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if self.public_base_url is not None:
            self.public_base_url = self.public_base_url.rstrip("/")
