"""What every part of the sandbox state shares: its configuration, its lock, sandbox time and put-codes."""

from __future__ import annotations

import threading

from .config import SandboxConfig
from .errors import orcid_error
from .models import Source, StoredActivity, StoredResearcherUrl

FIRST_PUT_CODE = 1_000_001


class StateCore:
    """The base of :class:`~.state.SandboxState` and of the parts it is made of (OAuth grants, writes)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._started_at = config.clock()
        # One sequence for works, employments and researcher URLs, as on ORCID; `reset` keeps it.
        self._next_put_code = FIRST_PUT_CODE

    # --- time -------------------------------------------------------------------------------------------------

    def now(self) -> float:
        """Sandbox seconds since start (scaled by `time_scale`)."""
        return (self.config.clock() - self._started_at) * self.config.time_scale

    def epoch_ms(self) -> int:
        """Wall-clock milliseconds for created/last-modified dates."""
        return int(self.config.clock() * 1000)

    def sleep(self, sandbox_seconds: float) -> None:
        """Wait `sandbox_seconds` of sandbox time."""
        if sandbox_seconds > 0:
            self.config.sleep(sandbox_seconds / self.config.time_scale)

    # --- items on a record ------------------------------------------------------------------------------------

    def _take_put_code(self) -> int:
        put_code = self._next_put_code
        self._next_put_code += 1
        return put_code

    @staticmethod
    def require_source[Item: (StoredActivity, StoredResearcherUrl)](
        items: dict[int, Item], put_code: int, caller: Source, activity: str
    ) -> Item:
        """The item, if it exists (else 404/9016) and `caller` is its source (else 403/9010)."""
        stored = items.get(put_code)
        if stored is None:
            raise orcid_error(9016, detail=f"No {activity} found with put-code {put_code}")
        if stored.source.key != caller.key:
            raise orcid_error(9010, activity=activity)
        return stored
