"""The console's routes: one Powertools ``Router`` per area, in the order the app includes them.

A route module imports the console's helpers with the idiom in ``signin.py`` (``web``/``auth`` are top-level
modules on Lambda, where this function's directory is the zip root, and ``functions.console.*`` elsewhere).
"""

from __future__ import annotations

from . import about, audit, dashboard, jobs, researchers, settings, signin, static, tokens

ROUTERS = [
    static.router,
    signin.router,
    dashboard.router,
    jobs.router,
    researchers.router,
    settings.router,
    tokens.router,
    about.router,
    audit.router,
]
