"""/docs (Swagger UI) and /redoc work with no outside network: every file comes from the app."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Route, sync_playwright

from ordermill.config import Settings
from ordermill.web.app import create_app
from tests.browser.chromium import LAUNCH_ARGS, MISSING, chromium

PAGES = ("/docs", "/redoc")
# src="…" and href="…" in the page, and the URL the page loads the document from.
_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


@pytest.fixture(scope="module")
def anonymous() -> Iterator[TestClient]:
    """The app with no credentials: the pages are public and touch no database."""
    url = "sqlite://"
    with TestClient(create_app(Settings(database_url=url))) as test_client:
        yield test_client


def references(html: str) -> list[str]:
    return [src or url for src, url in _REFERENCE.findall(html)]


@pytest.mark.parametrize("page", PAGES)
def test_the_page_references_no_file_outside_the_app(anonymous: TestClient, page: str) -> None:
    response = anonymous.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    found = references(response.text)
    assert found, response.text
    assert not re.search(r"https?://", response.text), response.text
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in found), found


@pytest.mark.parametrize("page", PAGES)
def test_every_file_the_page_references_is_served_with_its_content_type(
    anonymous: TestClient, page: str
) -> None:
    html = anonymous.get(page).text

    for reference in references(html):
        assert reference.startswith("/"), reference
        response = anonymous.get(reference)
        assert response.status_code == 200, reference
        suffix = "." + reference.rsplit(".", 1)[-1]
        media_type = response.headers["content-type"].split(";")[0]
        assert media_type in CONTENT_TYPES[suffix], (reference, media_type)
        assert len(response.content) > 1000, reference


def test_swagger_ui_loads_the_document_and_the_oauth2_redirect_from_the_app(
    anonymous: TestClient,
) -> None:
    html = anonymous.get("/docs").text

    assert "url: '/openapi.json'" in html
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in html
    redirect = anonymous.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert redirect.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", redirect.text)


def test_swagger_ui_sends_the_document_to_no_outside_validator(anonymous: TestClient) -> None:
    html = anonymous.get("/docs").text

    assert '"validatorUrl": null' in html


def test_an_unknown_asset_is_a_problem_json_404(anonymous: TestClient) -> None:
    response = anonymous.get("/docs/assets/nothing-here.js")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The app on a real socket on 127.0.0.1, for a browser to load."""
    url = "sqlite://"
    config = uvicorn.Config(
        create_app(Settings(database_url=url)), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def offline_page(served: str) -> Iterator[tuple[Page, list[str]]]:
    """A Chromium page that may reach the app only; every other request is refused and noted."""
    executable = chromium()
    if executable is None:
        pytest.skip(MISSING)
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=LAUNCH_ARGS
        )
        context = browser.new_context()

        def only_the_app(route: Route) -> None:
            if route.request.url.startswith(served + "/"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort("internetdisconnected")

        context.route("**/*", only_the_app)
        page = context.new_page()
        try:
            yield page, outside
        finally:
            browser.close()


def test_swagger_ui_renders_every_operation_with_no_outside_network(
    served: str, offline_page: tuple[Page, list[str]], anonymous: TestClient
) -> None:
    page, outside = offline_page
    operations = sum(
        1
        for item in anonymous.get("/openapi.json").json()["paths"].values()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )

    page.goto(f"{served}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)

    assert page.locator(".opblock").count() == operations
    assert page.get_by_text("/api/orders/{order_id}/actions/process").count() == 1
    assert page.locator(".btn.authorize").count() == 1
    assert outside == []


def test_redoc_renders_the_api_with_no_outside_network(
    served: str, offline_page: tuple[Page, list[str]]
) -> None:
    page, outside = offline_page

    page.goto(f"{served}/redoc")
    page.wait_for_selector("h1", timeout=30_000)

    assert "ordermill" in page.locator("h1").first.inner_text()
    assert page.get_by_text("Place an order", exact=False).count() >= 1
    assert outside == []


def test_redoc_may_load_images_from_the_app_only(anonymous: TestClient) -> None:
    response = anonymous.get("/redoc")

    assert response.headers["content-security-policy"] == "img-src 'self' data:"
