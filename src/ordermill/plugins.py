"""Extension points: plugins registered under the ``ordermill`` entry-point group.

A plugin is a module or object with any of the hooks below, marked with
``@ordermill.plugins.hookimpl``, and declared in its package's metadata::

    [project.entry-points.ordermill]
    mystore = "mystore.ordermill_plugin"

Transition hooks run inside the transaction that changes the order: an
exception raised by ``pre_transition`` or ``post_transition`` vetoes the change
and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import pluggy

from ordermill.errors import Code, Conflict, OrdermillError

PROJECT = "ordermill"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Hooks:
    """The hooks a plugin may implement (arguments are passed by keyword)."""

    @hookspec
    def pre_transition(self, order: Any, action: str, payload: dict[str, Any], actor: str) -> None:
        """Before ``action`` changes ``order`` (an ``OrderView``); raise to veto it."""

    @hookspec
    def post_transition(self, order: Any, action: str, previous_status: str, actor: str) -> None:
        """After ``action`` changed ``order``, in the same transaction; raise to undo it all."""

    @hookspec
    def populate_order_from_cart(self, cart: dict[str, Any], extra: dict[str, Any]) -> None:
        """Fill the new order's ``extra`` (a copy of the cart's) from ``cart``."""

    @hookspec
    def populate_line_from_cart_item(self, item: dict[str, Any], extra: dict[str, Any]) -> None:
        """Fill an order line's ``extra`` (a copy of the cart item's) from ``item``."""


@cache
def manager() -> pluggy.PluginManager:
    """The plugin manager, with every installed plugin loaded (once per process)."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(Hooks)
    pm.load_setuptools_entrypoints(PROJECT)
    return pm


@contextmanager
def registered(plugin: object) -> Iterator[None]:
    """Register ``plugin`` for the duration of a block (tests, embedding)."""
    pm = manager()
    pm.register(plugin)
    try:
        yield
    finally:
        pm.unregister(plugin)


def has(hook_name: str) -> bool:
    """Whether any plugin implements ``hook_name``."""
    return bool(getattr(manager().hook, hook_name).get_hookimpls())


def call(hook_name: str, **kwargs: Any) -> None:
    """Run a hook; a plugin's own error becomes a 409 ``vetoed``."""
    hook = getattr(manager().hook, hook_name)
    if not hook.get_hookimpls():
        return
    try:
        hook(**kwargs)
    except OrdermillError:
        raise
    except Exception as exc:  # a plugin said no (or failed): the change must not happen
        raise Conflict(
            f"A store plugin refused this: {exc}", code=Code.VETOED, hook=hook_name
        ) from exc
