"""A product as the pages show it: read in its own transaction, with its low-stock mark."""

from __future__ import annotations

from ordermill.db import Database
from ordermill.services import catalog
from ordermill.web.schemas import ProductPublic


def read_product(database: Database, product_id: int) -> ProductPublic:
    """The product (404 page for an unknown id), read while its transaction is open."""
    with database.read() as session:
        return ProductPublic.model_validate(catalog.get_product(session, product_id))


def threshold_of(product: ProductPublic, default: int) -> int:
    """The stock at or below which the product is low: its own threshold or the store's."""
    return default if product.low_stock_threshold is None else product.low_stock_threshold


def product_url(product_id: int) -> str:
    return f"/admin/products/{product_id}"
