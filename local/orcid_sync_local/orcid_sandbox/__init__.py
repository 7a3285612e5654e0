"""A local stand-in for ORCID's OAuth server and Member API v3.0, for the demo, e2e, chaos tests and benchmarks."""

from .app import SimulatedConnectionDrop, create_app
from .config import RegisteredClient, SandboxConfig
from .faults import FaultSettings
from .state import SandboxState

__all__ = [
    "FaultSettings",
    "RegisteredClient",
    "SandboxConfig",
    "SandboxState",
    "SimulatedConnectionDrop",
    "create_app",
]
