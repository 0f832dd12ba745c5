"""Server-rendered pages: the staff back office under ``/admin`` and the storefront (``shop``).

Pages call the same service functions as the API, inside the same transactions;
a rule a service checks holds on a page too. Every action is a plain form with
a redirect after the POST, so all of it works without JavaScript.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ordermill.web.pages import (
    audit,
    customer_forms,
    customers,
    dashboard,
    documents,
    login,
    order_actions,
    order_bulk,
    order_shipping,
    orders,
    products,
    shop,
    user_tokens,
    users,
    workflow,
)
from ordermill.web.pages.errors import install_page_errors

STATIC = Path(__file__).resolve().parent.parent.parent / "static"

# The back office's page routers, in the order they are matched.
# A form's fixed path (/admin/customers/new) comes before the page it would look like.
ROUTERS = [
    login.router,
    dashboard.router,
    documents.router,
    orders.router,
    order_bulk.router,
    order_actions.router,
    order_shipping.router,
    customer_forms.router,
    customers.router,
    products.router,
    workflow.router,
    users.router,
    user_tokens.router,
    audit.router,
]


def install_pages(app: FastAPI) -> None:
    """Add the pages, their assets (``/static``) and their error pages to ``app``."""
    install_page_errors(app)
    app.mount("/static", StaticFiles(directory=STATIC, follow_symlink=False), name="static")
    for router in [*ROUTERS, *shop.ROUTERS]:
        app.include_router(router)
