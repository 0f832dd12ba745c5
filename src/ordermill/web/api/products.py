"""/api/products: the catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ordermill.domain.access import Permission
from ordermill.services import catalog
from ordermill.services.accounts import Principal
from ordermill.web.api import problems
from ordermill.web.auth import actor_of, requires
from ordermill.web.deps import CursorQuery, DatabaseDep, IdPath, LimitQuery, SettingsDep, page_limit
from ordermill.web.http import check_if_match, page_response, resource_response
from ordermill.web.schemas import ProductCreate, ProductPublic, ProductUpdate, StockAdjust

router = APIRouter(prefix="/api/products", tags=["products"])
Reader = Annotated[Principal, requires(Permission.CATALOG_READ)]
Editor = Annotated[Principal, requires(Permission.PRODUCTS_WRITE)]


@router.get("", response_model=list[ProductPublic], responses=problems(400))
def list_products(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _reader: Reader,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
    active: bool | None = None,
    sku: str | None = None,
    search: Annotated[
        str | None, Query(max_length=200, description="A piece of the name or SKU, any case")
    ] = None,
) -> Response:
    """List products by id, optionally only active (or archived) ones, one SKU, or those
    whose name or SKU holds `search`."""
    with database.read() as session:
        page = catalog.list_products(
            session,
            limit=page_limit(settings, limit),
            cursor=cursor,
            active=active,
            sku=sku,
            search=search,
        )
        items = [ProductPublic.model_validate(p) for p in page.items]
    return page_response(request, page, list(items))


@router.post("", status_code=201, response_model=ProductPublic, responses=problems(400, 409))
def create_product(
    body: ProductCreate, request: Request, database: DatabaseDep, editor: Editor
) -> Response:
    """Add a product (SKU unique, price a decimal string or number with at most 2 decimals,
    an optional plain-text description for customers)."""
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
        public = ProductPublic.model_validate(product)
    response = resource_response(request, public, status_code=201)
    response.headers["Location"] = f"/api/products/{public.id}"
    return response


@router.get("/{product_id}", response_model=ProductPublic, responses=problems(304, 400, 404))
def get_product(
    product_id: IdPath, request: Request, database: DatabaseDep, _reader: Reader
) -> Response:
    """One product, with an ETag."""
    with database.read() as session:
        public = ProductPublic.model_validate(catalog.get_product(session, product_id))
    return resource_response(request, public)


@router.patch("/{product_id}", response_model=ProductPublic, responses=problems(400, 404, 409, 412))
def update_product(
    product_id: IdPath,
    body: ProductUpdate,
    request: Request,
    database: DatabaseDep,
    editor: Editor,
) -> Response:
    """Change a product (archive it with `"active": false`, drop its description with
    `"description": null`); existing orders keep their snapshot."""
    with database.write() as session:
        product = catalog.get_product(session, product_id, for_update=True)
        check_if_match(request, ProductPublic.model_validate(product))
        changes = catalog.ProductChanges(
            name=body.name,
            sku=body.sku,
            price=body.price,
            stock=body.stock,
            active=body.active,
            low_stock_threshold=body.low_stock_threshold,
            default_threshold=(
                "low_stock_threshold" in body.model_fields_set and body.low_stock_threshold is None
            ),
            description=body.description,
            clear_description="description" in body.model_fields_set and body.description is None,
        )
        updated = catalog.update_product(session, product, changes, actor=actor_of(editor))
        public = ProductPublic.model_validate(updated)
    return resource_response(request, public)


@router.post("/{product_id}/stock", response_model=ProductPublic, responses=problems(400, 404, 409))
def adjust_product_stock(
    product_id: IdPath, body: StockAdjust, request: Request, database: DatabaseDep, editor: Editor
) -> Response:
    """Add units to the stock or take them away (a write-off), with the reason recorded in
    the audit log. Adjustments at once all count; the stock never goes below zero
    (409 `stock_below_zero`, nothing changed)."""
    with database.write() as session:
        product = catalog.adjust_stock(
            session, product_id, body.delta, body.reason, actor=actor_of(editor)
        )
        public = ProductPublic.model_validate(product)
    return resource_response(request, public)


@router.delete("/{product_id}", status_code=204, responses=problems(400, 404))
def delete_product(product_id: IdPath, database: DatabaseDep, editor: Editor) -> Response:
    """Remove a product from the catalog; orders keep its name, SKU and price."""
    with database.write() as session:
        catalog.delete_product(session, product_id, actor=actor_of(editor))
    return Response(status_code=204)
