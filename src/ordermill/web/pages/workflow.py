"""/admin/workflow: the order workflow as a diagram and as a table.

The diagram is drawn from ``domain.workflow.to_dot()`` by Graphviz's ``dot`` once
per process and served by the app (``/admin/workflow.svg``) as an inert image:
``image/svg+xml`` with a policy that lets nothing in it run. Where ``dot`` is
missing the page says so and shows the table, which holds the whole workflow.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.domain import workflow as rules
from ordermill.domain.access import Permission
from ordermill.errors import Code, OrdermillError, error
from ordermill.graphviz import draw_svg, find_dot, is_inert
from ordermill.services.accounts import Principal
from ordermill.web.pages.render import render
from ordermill.web.pages.sessions import page_requires

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)
Reader = Annotated[Principal, page_requires(Permission.ORDERS_READ)]

SVG_HEADERS = {
    # Opened on its own, the drawing may load and run nothing.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "Cache-Control": "private, max-age=3600",
    "X-Content-Type-Options": "nosniff",
}


@cache
def _drawn(dot: str, source: str) -> bytes:
    """The diagram, drawn once per ``dot`` program and workflow (a failure is not kept)."""
    svg = draw_svg(source, dot)
    if not is_inert(svg):
        raise error(Code.GRAPHVIZ_MISSING, "Graphviz's `dot` drew something that is not inert")
    return svg


def workflow_svg() -> bytes | None:
    """The workflow's diagram as SVG; None where Graphviz can't draw it."""
    dot = find_dot()
    if dot is None:
        return None
    try:
        return _drawn(dot, rules.to_dot())
    except OrdermillError:
        return None


def transitions() -> list[dict[str, Any]]:
    """The workflow's actions as the table shows them, refusals in words."""
    data = rules.as_data()
    reasons: dict[str, str] = data["reasons"]  # type: ignore[assignment]
    order: list[str] = data["states"]  # type: ignore[assignment]
    rows = []
    for transition in data["transitions"]:  # type: ignore[attr-defined]
        refused = sorted(transition["refused"].items(), key=lambda item: order.index(item[0]))
        rows.append({**transition, "refused": [(state, reasons[code]) for state, code in refused]})
    return rows


@router.get("/workflow")
def workflow_page(request: Request, _reader: Reader) -> Response:
    data = rules.as_data()
    return render(
        request,
        "admin/workflow.html",
        drawn=workflow_svg() is not None,
        states=data["states"],
        final=data["final"],
        transitions=transitions(),
        automatic=data["automatic"],
    )


@router.get("/workflow.svg")
def workflow_diagram(_reader: Reader) -> Response:
    svg = workflow_svg()
    if svg is None:
        raise error(
            Code.GRAPHVIZ_MISSING,
            "The diagram can't be drawn here: Graphviz's `dot` program is not installed.",
        )
    return Response(svg, media_type="image/svg+xml", headers=SVG_HEADERS)
