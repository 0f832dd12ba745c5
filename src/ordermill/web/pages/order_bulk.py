"""Processing the pending orders ticked in the orders table, together, with one strategy.

The same batch service as ``ordermill orders process`` (``batches.process_pending``):
one transaction per batch, an order it can't process written not at all. Back on
the table, staff read how each order ended: processed (with its quantities changed
to the stock, or now awaiting payment) or not, with the reason in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.domain.orders import OrderStatus, Strategy
from ordermill.domain.workflow import REASONS
from ordermill.errors import Code, catalogued
from ordermill.services import batches, order_views
from ordermill.services.batches import BatchFailure
from ordermill.services.order_views import OrderView
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages import order_forms as forms
from ordermill.web.pages.order_actions import Field, Writer
from ordermill.web.pages.render import redirect
from ordermill.web.pages.sessions import CsrfChecked

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)
MAX_BULK = 500  # orders in one bulk action: a page of the table at most
SHOWN = 40  # order numbers named per message (the rest are counted)
SHORT_OF_STOCK = "There is not enough stock for every line (strategy reject)."


@router.post("/orders/bulk-process", dependencies=[CsrfChecked])
def bulk_process(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    writer: Writer,
    order_id: Annotated[list[str] | None, Form()] = None,
    strategy: Field = Strategy.ADJUST.value,
    back: Field = "",
) -> Response:
    target = forms.back_to(back) or "/admin/orders"
    picked = list(dict.fromkeys(order_id or []))
    if not picked:
        return redirect(request, target, error="Tick at least one pending order to process.")
    if len(picked) > MAX_BULK:
        return redirect(request, target, error=f"Process at most {MAX_BULK} orders at once.")
    if any(not text.isascii() or not text.isdigit() or len(text) > 10 for text in picked):
        return redirect(request, target, error="The orders to process are named by their ids.")
    ids = [int(text) for text in picked]
    if strategy not in {s.value for s in Strategy}:
        return redirect(request, target, error="Choose what to do when stock is short.")
    result = batches.process_pending(
        database,
        strategy=Strategy(strategy),
        flow=settings.payment_flow,
        actor=actor_of(writer),
        order_ids=ids,
    )
    refused = {failure.order_id for failure in result.failures}
    with database.read() as session:
        done = order_views.load_orders(session, [i for i in ids if i not in refused])
    return redirect(
        request,
        target,
        ok=processed_message([done[i] for i in ids if i in done], len(ids)),
        error=refused_message(result.failures),
    )


def processed_message(views: Sequence[OrderView], asked: int) -> str | None:
    """Which orders were processed, and how each ended when it is not the plain case."""
    if not views:
        return None
    named = []
    for view in views:
        how = []
        if any(line.quantity != line.quantity_ordered for line in view.lines):
            how.append("quantities changed to the stock")
        if view.status == OrderStatus.AWAITING_PAYMENT:
            how.append("awaiting payment")
        named.append(f"{view.ref} ({', '.join(how)})" if how else view.ref)
    return f"Processed {len(views)} of {asked} order(s): {_listing(named)}."


def refused_message(failures: Sequence[BatchFailure]) -> str | None:
    """The orders not processed, grouped by the reason, each reason said once."""
    if not failures:
        return None
    groups: dict[str, list[str]] = {}
    for failure in failures:
        groups.setdefault(_reason(failure), []).append(failure.ref)
    parts = [f"{reason} {_listing(refs)}." for reason, refs in groups.items()]
    return f"Not processed ({len(failures)}): " + " ".join(parts)


def _reason(failure: BatchFailure) -> str:
    if failure.code in REASONS:
        return f"{REASONS[Code(failure.code)].rstrip('.')}:"
    if failure.code == Code.INSUFFICIENT_STOCK:
        return f"{SHORT_OF_STOCK.rstrip('.')}:"
    if failure.code == Code.ORDER_NOT_FOUND:
        return "No such order (deleted meanwhile?):"
    entry = catalogued(failure.code)
    return f"{(entry.meaning if entry else failure.message).rstrip('.')}:"


def _listing(refs: Sequence[str]) -> str:
    shown = ", ".join(refs[:SHOWN])
    return shown if len(refs) <= SHOWN else f"{shown} and {len(refs) - SHOWN} more"
