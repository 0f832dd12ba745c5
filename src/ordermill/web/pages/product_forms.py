"""/admin/products/new and /admin/products/{id}/edit: a product's form.

The form is checked by the API's schemas (``ProductCreate``, ``ProductUpdate``):
the price is a decimal string such as ``12.50``, the SKU letters, digits, dots,
dashes and underscores, the description plain text that customers see (an empty
one is none). A wrong field or a SKU in use shows the form again (400)
with what was typed and a message next to the field; nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.domain.access import Permission
from ordermill.domain.money import format_amount
from ordermill.errors import Code, OrdermillError
from ordermill.services import catalog
from ordermill.services.accounts import Principal
from ordermill.services.products import MAX_DESCRIPTION_LENGTH
from ordermill.web.auth import actor_of
from ordermill.web.deps import DatabaseDep, IdPath
from ordermill.web.pages.form_checks import check, optional_number, refusal
from ordermill.web.pages.products_view import read_product
from ordermill.web.pages.render import redirect, render
from ordermill.web.pages.sessions import CsrfChecked, page_requires
from ordermill.web.schemas import ProductCreate, ProductPublic, ProductUpdate

router = APIRouter()
Editor = Annotated[Principal, page_requires(Permission.PRODUCTS_WRITE)]

FIELDS = ("name", "sku", "price", "stock", "low_stock_threshold", "active", "description")
MESSAGES = {
    "sku": "Use letters, digits, dots, dashes and underscores, starting with a letter or digit.",
}
# What a form's text fields may hold before the schema looks (it says why, in words).
Text = Annotated[str, Form(max_length=2000)]
# A description's line breaks come as \r\n: room for every line to be one.
LongText = Annotated[str, Form(max_length=4 * MAX_DESCRIPTION_LENGTH)]


def form_values(product: ProductPublic | None) -> dict[str, Any]:
    """What the form shows: the product's fields as text (a new product: empty)."""
    if product is None:
        return {
            "name": "",
            "sku": "",
            "price": "",
            "stock": "0",
            "low_stock_threshold": "",
            "active": True,
            "description": "",
        }
    threshold = product.low_stock_threshold
    return {
        "name": product.name,
        "sku": product.sku,
        "price": format_amount(product.price),
        "low_stock_threshold": "" if threshold is None else str(threshold),
        "active": product.active,
        "description": product.description or "",
    }


def form_page(
    request: Request,
    values: dict[str, Any],
    *,
    product: ProductPublic | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    settings = request.app.state.settings
    return render(
        request,
        "admin/product_form.html",
        status_code=400 if errors else 200,
        product=product,
        values=values,
        errors=errors or {},
        currency=settings.currency,
        store_default=settings.low_stock_default,
        description_limit=MAX_DESCRIPTION_LENGTH,
    )


@router.get("/new")
def new_product_form(request: Request, _editor: Editor) -> Response:
    return form_page(request, form_values(None))


@router.post("/new", dependencies=[CsrfChecked])
def create_product(
    request: Request,
    database: DatabaseDep,
    editor: Editor,
    name: Text = "",
    sku: Text = "",
    price: Text = "",
    stock: Text = "0",
    low_stock_threshold: Text = "",
    active: Annotated[str | None, Form(max_length=10)] = None,
    description: LongText = "",
) -> Response:
    values = {
        "name": name,
        "sku": sku,
        "price": price,
        "stock": stock,
        "low_stock_threshold": low_stock_threshold,
        "active": active is not None,
        "description": description,
    }
    data = {
        **values,
        "stock": optional_number(stock) or 0,
        "low_stock_threshold": optional_number(low_stock_threshold),
        "description": description or None,
    }
    body, errors = check(ProductCreate, data, MESSAGES)
    if body is None:
        return form_page(request, values, errors=errors)
    try:
        with database.write() as session:
            product = catalog.create_product(
                session,
                name=body.name,
                sku=body.sku,
                price=body.price,
                stock=body.stock,
                active=body.active,
                low_stock_threshold=body.low_stock_threshold,
                description=body.description,
                actor=actor_of(editor),
            )
            product_id, product_name = product.id, product.name
    except OrdermillError as exc:
        return form_page(request, values, errors=refusal(exc, FIELDS, {Code.SKU_TAKEN: "sku"}))
    return redirect(request, f"/admin/products/{product_id}", ok=f"Added {product_name}.")


@router.get("/{product_id}/edit")
def edit_product_form(
    product_id: IdPath, request: Request, database: DatabaseDep, _editor: Editor
) -> Response:
    product = read_product(database, product_id)
    return form_page(request, form_values(product), product=product)


@router.post("/{product_id}/edit", dependencies=[CsrfChecked])
def update_product(
    product_id: IdPath,
    request: Request,
    database: DatabaseDep,
    editor: Editor,
    name: Text = "",
    sku: Text = "",
    price: Text = "",
    low_stock_threshold: Text = "",
    active: Annotated[str | None, Form(max_length=10)] = None,
    description: LongText = "",
) -> Response:
    values = {
        "name": name,
        "sku": sku,
        "price": price,
        "low_stock_threshold": low_stock_threshold,
        "active": active is not None,
        "description": description,
    }
    threshold = optional_number(low_stock_threshold)
    body, errors = check(ProductUpdate, {**values, "low_stock_threshold": threshold}, MESSAGES)
    if body is None or errors:
        product = read_product(database, product_id)
        return form_page(request, values, product=product, errors=errors)
    try:
        with database.write() as session:
            row = catalog.get_product(session, product_id, for_update=True)
            changes = catalog.ProductChanges(
                name=body.name,
                sku=body.sku,
                price=body.price,
                active=body.active,
                low_stock_threshold=body.low_stock_threshold,
                default_threshold=body.low_stock_threshold is None,
                description=body.description,
                clear_description=not body.description,
            )
            catalog.update_product(session, row, changes, actor=actor_of(editor))
            product_name = row.name
    except OrdermillError as exc:
        if exc.code == Code.PRODUCT_NOT_FOUND:
            raise
        errors = refusal(exc, FIELDS, {Code.SKU_TAKEN: "sku"})
        product = read_product(database, product_id)
        return form_page(request, values, product=product, errors=errors)
    return redirect(request, f"/admin/products/{product_id}", ok=f"Saved {product_name}.")
