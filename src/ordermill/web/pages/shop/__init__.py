"""The storefront: customers browse, fill a cart, check out and follow their orders.

The pages share the back office's layout, assets, CSRF check and error pages, with
their own session cookie (``sessions.CUSTOMER``): a customer's session never opens
the back office, and a staff session is not a customer's. Every rule is the
service's, the same functions ``/api/me`` calls.
"""

from __future__ import annotations

from ordermill.web.pages.shop import (
    account,
    cart,
    catalogue,
    checkout,
    login,
    my_order_forms,
    my_orders,
    passwords,
    signup,
)

# The storefront's page routers, in the order they are matched.
ROUTERS = [
    login.router,
    signup.router,
    passwords.router,
    catalogue.router,
    cart.router,
    checkout.router,
    my_orders.router,
    my_order_forms.router,
    account.router,
]
