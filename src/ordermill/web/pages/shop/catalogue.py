"""/ and /products/{id}: the products on sale, found by name or SKU, a page at a time.

Anyone may browse. Only active products are shown: an archived product's page is
a 404 page, as an unknown one is. Each product says whether it is in stock in
words, and has an Add to cart form that posts to ``/cart/items`` (``shop.cart``)
and comes back here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.services import products as product_service
from ordermill.services.accounts import Principal
from ordermill.web.deps import DatabaseDep, IdPath, SettingsDep
from ordermill.web.pages.render import render
from ordermill.web.pages.sessions import CUSTOMER, page_visitor
from ordermill.web.schemas import ProductPublic

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Visitor = Annotated[Principal, page_visitor(CUSTOMER)]


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether a product can be bought, in words, and a word for its style."""

    level: str  # "in-stock", "low" or "out"
    words: str


def availability(stock: int, low_at: int) -> Availability:
    """In words: in stock, only a few left (the store's low-stock level or below), or none."""
    if stock <= 0:
        return Availability("out", "Out of stock")
    if stock <= low_at:
        return Availability("low", f"Only {stock} left")
    return Availability("in-stock", "In stock")


def here(request: Request) -> str:
    """This page's path and query: where an Add to cart form comes back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@router.get("/")
def catalogue(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _visitor: Visitor,
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The products on sale, by name or SKU (``q``), a page at a time."""
    with database.read() as session:
        page = product_service.list_products(
            session,
            limit=settings.page_size_default,
            cursor=cursor,
            active=True,
            search=q or None,
        )
        products = [ProductPublic.model_validate(p) for p in page.items]
    search = {"q": q} if q else {}
    next_url = None
    if page.next_cursor:
        next_url = "/?" + urlencode({**search, "cursor": page.next_cursor})
    first_url = ("/?" + urlencode(search) if search else "/") if cursor else None
    return render(
        request,
        "shop/catalogue.html",
        products=products,
        available={p.id: availability(p.stock, settings.low_stock_default) for p in products},
        q=q,
        next_url=next_url,
        first_url=first_url,
        back=here(request),
        currency=settings.currency,
    )


@router.get("/products/{product_id}")
def product_page(
    product_id: IdPath,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _visitor: Visitor,
) -> Response:
    """One product on sale: its description, price and availability (404 if not on sale)."""
    with database.read() as session:
        product = ProductPublic.model_validate(
            product_service.get_product_on_sale(session, product_id)
        )
    return render(
        request,
        "shop/product.html",
        product=product,
        available=availability(product.stock, settings.low_stock_default),
        back=here(request),
        currency=settings.currency,
    )
