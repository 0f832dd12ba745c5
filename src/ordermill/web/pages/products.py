"""/admin/products: the catalog with its stock; a product's page, archiving, stock adjustments.

The list, a product's page and its forms call ``services.catalog`` like
``/api/products``, with the API's permissions: any staff member reads the
catalog and changes it (``PRODUCTS_WRITE``).
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.db import Database
from ordermill.domain.access import Permission, allows
from ordermill.errors import Code, OrdermillError, kind_of
from ordermill.services import catalog
from ordermill.services.accounts import Principal
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, IdPath, SettingsDep
from ordermill.web.pages import product_forms
from ordermill.web.pages.form_checks import check, refusal, whole_number
from ordermill.web.pages.products_view import product_url, read_product, threshold_of
from ordermill.web.pages.render import explain, redirect, render
from ordermill.web.pages.sessions import CsrfChecked, page_requires
from ordermill.web.schemas import ProductPublic, StockAdjust

router = APIRouter(
    prefix="/admin/products", include_in_schema=False, default_response_class=HTMLResponse
)
# "/new" is matched before "/{product_id}".
router.include_router(product_forms.router)

Reader = Annotated[Principal, page_requires(Permission.CATALOG_READ)]
Editor = Annotated[Principal, page_requires(Permission.PRODUCTS_WRITE)]
StatusFilter = Literal["", "active", "archived"]
STOCK_FIELDS = ("delta", "reason")


@router.get("")
def product_list(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    principal: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
    status: StatusFilter = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    active = {"": None, "active": True, "archived": False}[status]
    with database.read() as session:
        page = catalog.list_products(
            session,
            limit=settings.page_size_default,
            cursor=cursor,
            active=active,
            search=q or None,
        )
        products = [ProductPublic.model_validate(p) for p in page.items]
    next_url = None
    if page.next_cursor:
        query = {k: v for k, v in (("q", q), ("status", status)) if v}
        next_url = "/admin/products?" + urlencode({**query, "cursor": page.next_cursor})
    return render(
        request,
        "admin/products.html",
        products=products,
        thresholds={p.id: threshold_of(p, settings.low_stock_default) for p in products},
        q=q,
        status=status,
        next_url=next_url,
        currency=settings.currency,
        may_edit=allows(principal.role, Permission.PRODUCTS_WRITE),
    )


def product_page(
    request: Request,
    product: ProductPublic,
    principal: Principal,
    *,
    status_code: int = 200,
    stock_values: dict[str, str] | None = None,
    stock_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    settings = request.app.state.settings
    return render(
        request,
        "admin/product.html",
        status_code=status_code,
        product=product,
        threshold=threshold_of(product, settings.low_stock_default),
        store_default=settings.low_stock_default,
        currency=settings.currency,
        may_edit=allows(principal.role, Permission.PRODUCTS_WRITE),
        may_audit=allows(principal.role, Permission.USERS_MANAGE),
        stock_values=stock_values or {"delta": "", "reason": ""},
        stock_errors=stock_errors or {},
    )


@router.get("/{product_id}")
def product_detail(
    product_id: IdPath, request: Request, database: DatabaseDep, principal: Reader
) -> Response:
    return product_page(request, read_product(database, product_id), principal)


def _set_active(
    request: Request, database: Database, principal: Principal, product_id: int, active: bool
) -> Response:
    try:
        with database.write() as session:
            product = catalog.get_product(session, product_id, for_update=True)
            name = product.name
            changes = catalog.ProductChanges(active=active)
            catalog.update_product(session, product, changes, actor=actor_of(principal))
    except OrdermillError as exc:
        if exc.code == Code.PRODUCT_NOT_FOUND:
            raise
        return redirect(request, product_url(product_id), error=explain(exc))
    done = "is sold again" if active else "is archived: it is no longer sold"
    return redirect(request, product_url(product_id), ok=f"{name} {done}.")


@router.post("/{product_id}/archive", dependencies=[CsrfChecked])
def archive_product(
    product_id: IdPath, request: Request, database: DatabaseDep, principal: Editor
) -> Response:
    return _set_active(request, database, principal, product_id, False)


@router.post("/{product_id}/unarchive", dependencies=[CsrfChecked])
def unarchive_product(
    product_id: IdPath, request: Request, database: DatabaseDep, principal: Editor
) -> Response:
    return _set_active(request, database, principal, product_id, True)


@router.post("/{product_id}/stock", dependencies=[CsrfChecked])
def adjust_stock(
    product_id: IdPath,
    request: Request,
    database: DatabaseDep,
    principal: Editor,
    delta: Annotated[str, Form(max_length=100)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    values = {"delta": delta, "reason": reason}
    body, errors = check(StockAdjust, {"delta": whole_number(delta), "reason": reason})
    status = 400
    if body is not None:
        try:
            with database.write() as session:
                product = catalog.adjust_stock(
                    session, product_id, body.delta, body.reason, actor=actor_of(principal)
                )
                name, stock = product.name, product.stock
        except OrdermillError as exc:
            if exc.code == Code.PRODUCT_NOT_FOUND:
                raise
            errors = refusal(exc, STOCK_FIELDS, {Code.STOCK_BELOW_ZERO: "delta"})
            status = kind_of(exc).status
        else:
            change = f"{body.delta:+d}"
            return redirect(
                request,
                product_url(product_id),
                ok=f"Stock of {name}: {change} ({body.reason}), now {stock}.",
            )
    return product_page(
        request,
        read_product(database, product_id),
        principal,
        status_code=status,
        stock_values=values,
        stock_errors=errors,
    )
