"""An order's invoice and delivery note: printable pages, and the same pages as PDF.

``/admin/orders/{ref}/invoice`` exists once the order is paid in full,
``/admin/orders/{ref}/delivery-note`` once it may ship (``services.documents``);
before that the page says why (409) and links back to the order. ``{ref}`` is an
order id or number. Each has a ``.pdf`` twin where the server can make PDF files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.display import address_lines
from ordermill.domain.access import Permission
from ordermill.errors import Conflict
from ordermill.services import documents
from ordermill.services.accounts import Principal
from ordermill.services.order_views import OrderView
from ordermill.web.deps import DatabaseDep
from ordermill.web.pages import pdf
from ordermill.web.pages.errors import error_page
from ordermill.web.pages.render import explain, render, settings_of
from ordermill.web.pages.sessions import page_requires

router = APIRouter(
    prefix="/admin/orders", include_in_schema=False, default_response_class=HTMLResponse
)
Reader = Annotated[Principal, page_requires(Permission.ORDERS_READ)]
OrderRef = Annotated[str, Path(max_length=40, description="An order id or number")]

PDF_UNAVAILABLE = (
    "PDF files are not available on this server (WeasyPrint or its system libraries, "
    "such as Pango, are not installed). Open the page and print it instead."
)


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of document: its name in URLs and files, its title, its rule."""

    slug: str
    title: str
    template: str
    check: Callable[[OrderView], None]


INVOICE = Kind("invoice", "Invoice", "admin/invoice.html", documents.check_invoice)
DELIVERY_NOTE = Kind(
    "delivery-note", "Delivery note", "admin/delivery_note.html", documents.check_delivery_note
)
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def refused_page(
    request: Request, document: documents.OrderDocument, kind: Kind, back: str
) -> HTMLResponse | None:
    """The page saying why the order has no such document yet (409), with the way
    ``back`` to the order; ``None`` when it has one."""
    try:
        kind.check(document.order)
    except Conflict as exc:
        return render(
            request,
            "document_refused.html",
            status_code=409,
            kind=kind,
            order=document.order,
            reason=explain(exc),
            back=back,
        )
    return None


def document_context(request: Request, document: documents.OrderDocument) -> dict[str, Any]:
    """What a document's template shows of the order, wherever it is shown."""
    return {
        "document": document,
        "order": document.order,
        "store_address": address_lines(settings_of(request).store_address),
        "shipping_address": address_lines(document.order.shipping_address),
    }


def _document(
    request: Request, database: DatabaseDep, ref: str, kind: Kind
) -> documents.OrderDocument | HTMLResponse:
    """The order's document, or the page saying why it doesn't exist yet (409)."""
    with database.read() as session:
        document = documents.order_document(session, ref)
    back = f"/admin/orders/{quote(document.order.ref, safe='')}"
    return refused_page(request, document, kind, back) or document


def _render(
    request: Request, document: documents.OrderDocument, kind: Kind, *, for_pdf: bool
) -> HTMLResponse:
    order = document.order
    return render(
        request,
        kind.template,
        kind=kind,
        **document_context(request, document),
        for_pdf=for_pdf,
        pdf_available=not for_pdf and pdf.available(),
        invoice_ready=documents.invoice_ready(order),
        delivery_note_ready=documents.delivery_note_ready(order),
    )


def _page(request: Request, database: DatabaseDep, ref: str, kind: Kind) -> Response:
    found = _document(request, database, ref, kind)
    if isinstance(found, Response):
        return found
    return _render(request, found, kind, for_pdf=False)


def _pdf(request: Request, database: DatabaseDep, ref: str, kind: Kind) -> Response:
    found = _document(request, database, ref, kind)
    if isinstance(found, Response):
        return found
    html = bytes(_render(request, found, kind, for_pdf=True).body).decode()
    try:
        body = pdf.render_pdf(html, request.url.path)
    except pdf.PdfUnavailable:
        return error_page(request, 503, PDF_UNAVAILABLE)
    number = _UNSAFE_IN_FILENAME.sub("-", found.order.ref)
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{kind.slug}-{number}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/{ref}/invoice")
def invoice(request: Request, database: DatabaseDep, ref: OrderRef, _staff: Reader) -> Response:
    return _page(request, database, ref, INVOICE)


@router.get("/{ref}/invoice.pdf")
def invoice_pdf(request: Request, database: DatabaseDep, ref: OrderRef, _staff: Reader) -> Response:
    return _pdf(request, database, ref, INVOICE)


@router.get("/{ref}/delivery-note")
def delivery_note(
    request: Request, database: DatabaseDep, ref: OrderRef, _staff: Reader
) -> Response:
    return _page(request, database, ref, DELIVERY_NOTE)


@router.get("/{ref}/delivery-note.pdf")
def delivery_note_pdf(
    request: Request, database: DatabaseDep, ref: OrderRef, _staff: Reader
) -> Response:
    return _pdf(request, database, ref, DELIVERY_NOTE)
