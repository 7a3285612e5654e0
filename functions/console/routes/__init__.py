"""The console's routes: one Powertools ``Router`` per area, in the order the app includes them.

A route module imports the console's helpers with the idiom in ``signin.py`` (``web``/``auth`` are top-level
modules on Lambda, where this function's directory is the zip root, and ``functions.console.*`` elsewhere).
"""

from __future__ import annotations

from . import audit, signin, static

ROUTERS = [
    static.router,
    signin.router,
    audit.router,
]
