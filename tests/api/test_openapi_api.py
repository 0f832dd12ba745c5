"""The API documents itself: OpenAPI at /openapi.json and Swagger UI at /docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from ordermill.domain.access import Permission, Role, allows
from ordermill.domain.money import MAX_AMOUNT_MINOR, parse_amount
from ordermill.domain.orders import format_order_number, parse_order_number
from ordermill.errors import CATALOGUE, KINDS, Code, InvalidInput
from ordermill.services.idempotency import MAX_KEY_LENGTH, validate_key
from ordermill.web.schemas import PLAIN_TEXT
from tests.api.helpers import PROBLEM_JSON, assert_problem, error_fields

ROUTES = {
    ("/api/customers", "get"),
    ("/api/customers", "post"),
    ("/api/customers/{customer_id}", "get"),
    ("/api/customers/{customer_id}", "patch"),
    ("/api/customers/{customer_id}", "delete"),
    ("/api/customers/{customer_id}/orders", "get"),
    ("/api/customers/{customer_id}/ledger", "get"),
    ("/api/products", "get"),
    ("/api/products", "post"),
    ("/api/products/{product_id}", "get"),
    ("/api/products/{product_id}", "patch"),
    ("/api/products/{product_id}", "delete"),
    ("/api/products/{product_id}/stock", "post"),
    ("/api/customers/{customer_id}/cart", "get"),
    ("/api/customers/{customer_id}/cart", "delete"),
    ("/api/customers/{customer_id}/cart/items/{product_id}", "put"),
    ("/api/customers/{customer_id}/cart/items/{product_id}", "delete"),
    ("/api/customers/{customer_id}/cart/checkout", "post"),
    ("/api/orders", "get"),
    ("/api/orders", "post"),
    ("/api/orders/{order_id}", "get"),
    ("/api/orders/{order_id}", "put"),
    ("/api/orders/{order_id}", "delete"),
    ("/api/orders/by-number/{number}", "get"),
    ("/api/workflow", "get"),
    ("/api/orders/{order_id}/actions", "get"),
    ("/api/orders/{order_id}/actions/process", "post"),
    ("/api/orders/{order_id}/actions/pay", "post"),
    ("/api/orders/{order_id}/actions/fulfill", "post"),
    ("/api/orders/{order_id}/actions/deliver", "post"),
    ("/api/orders/{order_id}/actions/cancel", "post"),
    ("/api/orders/{order_id}/actions/return", "post"),
    ("/api/orders/{order_id}/events", "get"),
    ("/api/orders/{order_id}/notes", "post"),
    ("/api/orders/{order_id}/reorder", "post"),
    ("/api/customers/{customer_id}/balance", "post"),
    ("/api/auth/signup", "post"),
    ("/api/auth/token", "post"),
    ("/api/auth/password-reset", "post"),
    ("/api/auth/password-reset/confirm", "post"),
    ("/api/auth/logout", "post"),
    ("/api/auth/whoami", "get"),
    ("/api/me", "get"),
    ("/api/me", "patch"),
    ("/api/me/cart", "get"),
    ("/api/me/cart", "delete"),
    ("/api/me/cart/items/{product_id}", "put"),
    ("/api/me/cart/items/{product_id}", "delete"),
    ("/api/me/cart/checkout", "post"),
    ("/api/me/orders", "get"),
    ("/api/me/orders/{order_id}", "get"),
    ("/api/me/orders/{order_id}/actions", "get"),
    ("/api/me/orders/{order_id}/actions/cancel", "post"),
    ("/api/me/orders/{order_id}/events", "get"),
    ("/api/me/ledger", "get"),
    ("/api/users", "get"),
    ("/api/users", "post"),
    ("/api/users/{user_id}", "patch"),
    ("/api/users/{user_id}/tokens", "get"),
    ("/api/users/{user_id}/tokens", "post"),
    ("/api/tokens/{token_id}", "delete"),
    ("/api/audit", "get"),
    ("/api/webhooks", "get"),
    ("/api/webhooks", "post"),
    ("/api/webhooks/{webhook_id}", "get"),
    ("/api/webhooks/{webhook_id}", "patch"),
    ("/api/webhooks/{webhook_id}", "delete"),
    ("/api/webhooks/{webhook_id}/rotate-secret", "post"),
    ("/api/webhooks/{webhook_id}/ping", "post"),
    ("/api/webhooks/{webhook_id}/deliveries", "get"),
    ("/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", "post"),
    ("/health", "get"),
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}
# Every workflow action takes an Idempotency-Key, so a reused key (422) can happen there.
ACTION_ROUTES = {
    ("/api/orders/{order_id}/actions/process", "post"),
    ("/api/orders/{order_id}/actions/pay", "post"),
    ("/api/orders/{order_id}/actions/fulfill", "post"),
    ("/api/orders/{order_id}/actions/deliver", "post"),
    ("/api/orders/{order_id}/actions/cancel", "post"),
    ("/api/orders/{order_id}/actions/return", "post"),
    ("/api/me/orders/{order_id}/actions/cancel", "post"),
}


def test_openapi_lists_every_route_of_the_api(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "ordermill"
    documented = {
        (path, method)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }
    assert documented == ROUTES


def test_openapi_documents_errors_as_problem_json(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    process = spec["paths"]["/api/orders/{order_id}"]["put"]["responses"]
    assert {"200", "400", "404", "409", "422"} <= set(process)
    assert PROBLEM_JSON in process["409"]["content"]
    patch = spec["paths"]["/api/customers/{customer_id}"]["patch"]["responses"]
    assert PROBLEM_JSON in patch["412"]["content"]


def test_openapi_documents_the_idempotency_key_header(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    for path, method in (
        ("/api/orders", "post"),
        ("/api/customers/{customer_id}/cart/checkout", "post"),
        ("/api/orders/{order_id}", "put"),
        *sorted(ACTION_ROUTES),
    ):
        headers = {
            parameter["name"]
            for parameter in spec["paths"][path][method].get("parameters", [])
            if parameter["in"] == "header"
        }
        assert "Idempotency-Key" in headers, (path, method)


def test_openapi_documents_workflow_refusals_as_problem_json_409(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    for path, method in sorted(ACTION_ROUTES):
        responses = spec["paths"][path][method]["responses"]
        assert {"200", "400", "404", "409"} <= set(responses), (path, method)
        assert PROBLEM_JSON in responses["409"]["content"], (path, method)


def test_docs_serve_swagger_ui_pointing_at_the_spec(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text.lower()
    assert "/openapi.json" in response.text


def test_openapi_documents_422_only_where_a_reused_idempotency_key_can_cause_it(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()

    with_422 = {
        (path, method)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "422" in operation["responses"]
    }

    assert with_422 == {
        ("/api/orders", "post"),
        ("/api/orders/{order_id}", "put"),
        ("/api/customers/{customer_id}/cart/checkout", "post"),
        ("/api/me/cart/checkout", "post"),
        *ACTION_ROUTES,
    }
    assert "HTTPValidationError" not in spec.get("components", {}).get("schemas", {})


SNAKE_CASE = re.compile(r"^[a-z]+(?:_[a-z]+)*$")


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_every_operation_has_a_unique_readable_operation_id(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    ids = [operation["operationId"] for _, _, operation in operations(spec)]

    assert len(ids) == len(set(ids)) == len(ROUTES)
    for path, _method, operation in operations(spec):
        operation_id = operation["operationId"]
        assert SNAKE_CASE.match(operation_id), operation_id
        assert not operation_id.startswith("api_"), operation_id
        assert "_api_" not in operation_id, operation_id
        assert not operation_id.endswith(tuple(f"_{verb}" for verb in HTTP_METHODS)), operation_id
        assert "_id" not in operation_id, operation_id  # no {order_id}-like path parameter
        slug = re.sub(r"\W+", "_", path).strip("_")  # FastAPI's default: api_orders_order_id
        assert "_" not in slug or slug not in operation_id, operation_id


def test_operation_ids_name_what_a_client_calls(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    by_route = {(path, method): op["operationId"] for path, method, op in operations(spec)}

    assert by_route[("/api/orders", "post")] == "create_order"
    assert by_route[("/api/orders", "get")] == "list_orders"
    assert by_route[("/api/orders/{order_id}", "get")] == "get_order"
    assert by_route[("/api/orders/{order_id}", "put")] == "process_order"
    assert by_route[("/api/orders/{order_id}/actions/pay", "post")] == "pay_order"
    assert by_route[("/api/me/orders", "get")] == "list_my_orders"
    assert by_route[("/api/auth/token", "post")] == "log_in"
    assert by_route[("/api/auth/signup", "post")] == "sign_up"
    assert by_route[("/health", "get")] == "check_health"


# ---------------------------------------------------------------- errors and security

PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}


def test_every_error_response_is_problem_json_with_the_problem_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    errors = [
        (path, method, status, response)
        for path, method, operation in operations(spec)
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]

    assert len(errors) > len(ROUTES)
    for path, method, status, response in errors:
        assert response["content"][PROBLEM_JSON] == {"schema": PROBLEM_SCHEMA}, (
            path,
            method,
            status,
        )


def test_error_descriptions_come_from_the_catalogue_with_every_code_of_the_status(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()

    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            kinds = [info for info in KINDS.values() if info.status == int(status)]
            codes = [code for code, info in CATALOGUE.items() if KINDS[info.kind] in kinds]
            assert kinds, (path, method, status)
            assert response["description"].startswith(kinds[0].description), response
            for code in codes:
                assert f"`{code}`" in response["description"], (path, method, status, code)
    conflict = spec["paths"]["/api/orders/{order_id}"]["put"]["responses"]["409"]["description"]
    assert conflict.startswith("Conflict with the current state. Codes: `conflict`, ")
    assert "`insufficient_stock`" in conflict


def test_the_problem_schema_lists_every_code_and_the_fields_of_a_400(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert problem["properties"]["code"]["$ref"] == "#/components/schemas/Code"
    assert set(schemas["Code"]["enum"]) == {str(code) for code in Code}
    items = problem["properties"]["errors"]["anyOf"][0]["items"]
    assert items == {"$ref": "#/components/schemas/ProblemField"}
    assert set(schemas["ProblemField"]["required"]) == {"field", "message"}


def declared_permission(dependant: Any) -> Permission:
    """The one permission ``requires(...)`` recorded in a route's dependencies."""
    pending = list(dependant.dependencies)
    while pending:
        dependency = pending.pop()
        permission = getattr(dependency.call, "permission", None)
        if permission is not None:
            return Permission(permission)
        pending.extend(dependency.dependencies)
    raise AssertionError("no permission declared")


def permissions_by_operation(app: FastAPI) -> dict[tuple[str, str], Permission]:
    return {
        (str(context.path_format), method.lower()): declared_permission(context.dependant)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.include_in_schema
        for method in context.methods or ()
    }


# Statuses a public operation answers for its own reason, not for a permission check.
OWN_REASONS = {
    ("/api/auth/token", "post"): {"401"},  # invalid_credentials
    ("/api/auth/signup", "post"): {"403"},  # signup_disabled
}
BEARER = [{"OAuth2PasswordBearer": []}]


def test_only_operations_anonymous_callers_may_not_use_declare_the_bearer_scheme(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    app = cast(FastAPI, client.app)

    permissions = permissions_by_operation(app)

    assert set(permissions) == ROUTES
    for path, method, operation in operations(spec):
        permission = permissions[(path, method)]
        statuses = set(operation["responses"]) - OWN_REASONS.get((path, method), set())
        if allows(Role.ANONYMOUS, permission):
            assert "security" not in operation, (path, method)
            assert not statuses & {"401", "403"}, (path, method)
            continue
        assert operation["security"] == BEARER, (path, method)
        assert "401" in statuses, (path, method)
        some_role_lacks_it = not all(
            allows(role, permission) for role in Role if role is not Role.ANONYMOUS
        )
        assert ("403" in statuses) == some_role_lacks_it, (path, method)


def test_public_operations_show_no_lock(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    public = {
        (path, method)
        for path, method, operation in operations(spec)
        if "security" not in operation
    }

    assert public == {
        ("/health", "get"),
        ("/api/auth/signup", "post"),
        ("/api/auth/token", "post"),
        ("/api/auth/password-reset", "post"),
        ("/api/auth/password-reset/confirm", "post"),
        ("/api/products", "get"),
        ("/api/products/{product_id}", "get"),
        ("/api/workflow", "get"),
    }
    whoami = spec["paths"]["/api/auth/whoami"]["get"]["responses"]
    assert {"401"} <= set(whoami)
    assert "403" not in whoami  # every signed-in role may ask who it is
    assert "403" in spec["paths"]["/api/users"]["get"]["responses"]


# ---------------------------------------------------------------- the limits the server enforces


def string_branch(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("type") == "string":
        return schema
    (branch,) = [b for b in schema.get("anyOf", ()) if b.get("type") == "string"]
    return branch


def test_the_idempotency_key_declares_the_length_and_characters_the_server_accepts(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    (header,) = [
        p
        for p in spec["paths"]["/api/orders"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    ]

    key = string_branch(header["schema"])

    assert (key["minLength"], key["maxLength"]) == (1, MAX_KEY_LENGTH)
    pattern = re.compile(key["pattern"])
    for accepted in ("order-42", "a b", "~!", "x" * MAX_KEY_LENGTH):
        assert pattern.match(accepted)
        assert validate_key(accepted) == accepted
    for refused in ("", " ", "tab\there", "bell\x07"):
        assert not pattern.match(refused)
        with pytest.raises(InvalidInput):
            validate_key(refused)


def test_money_in_declares_the_largest_amount_the_server_accepts(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    price = schemas["ProductCreate"]["properties"]["price"]["anyOf"]
    number = next(b for b in price if b["type"] == "number")
    text = re.compile(next(b for b in price if b["type"] == "string")["pattern"])

    assert number["maximum"] == MAX_AMOUNT_MINOR / 100
    assert number["minimum"] == 0
    assert parse_amount(number["maximum"], field="price") == MAX_AMOUNT_MINOR
    assert text.match("99999999999.99")
    assert parse_amount("99999999999.99", field="price") < MAX_AMOUNT_MINOR
    for refused in ("-1", "1.234", "1e5", "100000000000.01"):
        assert not text.match(refused), refused
    signed = schemas["BalanceAdjust"]["properties"]["amount"]["anyOf"]
    assert re.match(next(b for b in signed if b["type"] == "string")["pattern"], "-12.50")
    assert next(b for b in signed if b["type"] == "number")["minimum"] == -MAX_AMOUNT_MINOR / 100


def test_quantities_declare_their_bounds(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    line = schemas["OrderItemIn"]["properties"]["quantity"]
    cart = schemas["CartItemSet"]["properties"]["quantity"]

    assert (line["minimum"], line["maximum"]) == (1, 1_000_000)
    assert (cart["minimum"], cart["maximum"]) == (0, 1_000_000)
    assert schemas["OrderCreate"]["properties"]["items"]["maxItems"] == 500


def test_a_products_description_is_documented_as_optional_plain_text_of_5000_characters(
    client: TestClient,
) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    sent = [
        next(b for b in schemas[name]["properties"]["description"]["anyOf"] if b["type"] != "null")
        for name in ("ProductCreate", "ProductUpdate")
    ]
    shown = schemas["ProductPublic"]

    for string in sent:
        assert (string["type"], string["maxLength"], string["pattern"]) == (
            "string",
            5_000,
            PLAIN_TEXT,
        )
    assert "description" not in schemas["ProductCreate"].get("required", [])
    assert "description" in shown["required"]  # always there, null when there is none
    assert {b["type"] for b in shown["properties"]["description"]["anyOf"]} == {"string", "null"}


def test_the_order_number_declares_its_pattern(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    (number,) = spec["paths"]["/api/orders/by-number/{number}"]["get"]["parameters"]

    pattern = re.compile(number["schema"]["pattern"])

    assert pattern.match(format_order_number(2026, 1))
    assert pattern.match("2026-123456")
    for refused in ("2026-1", "26-00001", "2026-0000a", "abc"):
        assert not pattern.match(refused)
        with pytest.raises(InvalidInput):
            parse_order_number(refused)


def test_every_free_text_field_of_a_request_refuses_control_characters_in_its_pattern(
    client: TestClient,
) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    plain = re.compile(PLAIN_TEXT)

    free_text = [
        (name, field, string)
        for name, schema in schemas.items()
        if schema.get("additionalProperties") is False  # request bodies refuse unknown fields
        for field, prop in schema["properties"].items()
        for string in [b for b in (prop, *prop.get("anyOf", ())) if b.get("type") == "string"]
        if not string.keys() & {"format", "enum"}
    ]

    assert ("OrderCreate", "note") in {(name, field) for name, field, _ in free_text}
    for name, field, string in free_text:
        assert "pattern" in string, (name, field)
        if string["pattern"] == PLAIN_TEXT:  # not a SKU, an amount, a choice
            assert "maxLength" in string, (name, field)
    assert plain.match("two lines\nand a\ttab")
    assert not plain.match("nul\x00")
    assert not plain.match("escape\x1b[0m")


def test_a_body_with_a_control_character_is_refused_as_the_pattern_says(
    client: TestClient,
) -> None:
    response = client.post("/api/customers", json={"name": "bell\x07", "email": "b@example.com"})

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"name"}


def test_every_operation_declares_what_the_guards_in_front_of_it_answer(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"415", "503"} <= statuses, (path, method)
            assert ("413" in statuses) == ("requestBody" in operation), (path, method)


def test_health_documents_its_own_body_for_503_beside_the_problem(client: TestClient) -> None:
    content = client.get("/openapi.json").json()["paths"]["/health"]["get"]["responses"]["503"][
        "content"
    ]
    assert content["application/json"]["schema"]["$ref"].endswith("/Health")
    assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
