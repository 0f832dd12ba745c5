"""Server-rendered pages: the staff back office under ``/admin``.

Pages call the same service functions as the API, inside the same transactions;
a rule a service checks holds on a page too. Every action is a plain form with
a redirect after the POST, so all of it works without JavaScript.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ordermill.web.pages import dashboard, login
from ordermill.web.pages.errors import install_page_errors

STATIC = Path(__file__).resolve().parent.parent.parent / "static"

# The back office's page routers, in the order they are matched.
ROUTERS = [login.router, dashboard.router]


def install_pages(app: FastAPI) -> None:
    """Add the pages, their assets (``/static``) and their error pages to ``app``."""
    install_page_errors(app)
    app.mount("/static", StaticFiles(directory=STATIC, follow_symlink=False), name="static")
    for router in ROUTERS:
        app.include_router(router)
