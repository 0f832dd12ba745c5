"""/admin/workflow: the workflow's diagram, drawn once by Graphviz and served as an inert
image, and its actions as a table; without Graphviz, the table alone and no broken image."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ordermill.domain import workflow as rules
from ordermill.graphviz import find_dot
from ordermill.web.pages import workflow as page_module
from tests.pages.forms import text_of

needs_graphviz = pytest.mark.skipif(find_dot() is None, reason="Graphviz is not installed")


@pytest.fixture(autouse=True)
def _fresh_drawing() -> Iterator[None]:
    page_module._drawn.cache_clear()
    yield
    page_module._drawn.cache_clear()


@needs_graphviz
def test_the_page_shows_the_diagram_from_the_app_and_every_action_in_a_table(
    staff: TestClient,
) -> None:
    response = staff.get("/admin/workflow")

    assert response.status_code == 200
    assert re.search(r'<img src="/admin/workflow.svg" alt="[^"]+">', response.text)
    text = text_of(response.text)
    for transition in rules.TRANSITIONS.values():
        assert transition.label in text
    assert "The order has not been shipped yet." in text  # a refusal, in words
    assert "fully paid" in text  # the automatic move
    assert '<th scope="row">Mark shipped' in response.text


@needs_graphviz
def test_the_diagram_is_an_svg_that_can_run_nothing(staff: TestClient) -> None:
    response = staff.get("/admin/workflow.svg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "sandbox" in policy
    assert "<svg" in response.text
    for state in ("pending", "awaiting_payment", "returned"):
        assert state in response.text
    assert "<script" not in response.text.lower()
    assert re.search(r"\son[a-z]+\s*=|href\s*=", response.text, re.I) is None


@needs_graphviz
def test_the_diagram_is_drawn_once_and_kept(
    staff: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = page_module.draw_svg

    def counting(source: str, dot: str | None = None) -> bytes:
        calls.append(source)
        return real(source, dot)

    monkeypatch.setattr(page_module, "draw_svg", counting)

    bodies = {staff.get("/admin/workflow.svg").content for _ in range(3)}
    staff.get("/admin/workflow")

    assert len(calls) == 1
    assert len(bodies) == 1


def test_without_graphviz_the_page_says_so_and_shows_no_broken_image(
    staff: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_module, "find_dot", lambda: None)

    page = staff.get("/admin/workflow")
    image = staff.get("/admin/workflow.svg")

    assert page.status_code == 200
    assert "<img" not in page.text
    assert "Graphviz's dot program is not installed" in text_of(page.text)
    assert "Mark delivered" in text_of(page.text)
    assert image.status_code == 503
    assert image.headers["content-type"].startswith("text/html")


def test_a_drawing_with_anything_active_in_it_is_not_served(
    staff: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_module, "find_dot", lambda: "/usr/bin/dot")
    for active in (
        b"<svg><script>alert(1)</script></svg>",
        b'<svg><rect onload="alert(1)"/></svg>',
        b'<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
        b"<svg><foreignObject><p>x</p></foreignObject></svg>",
    ):
        page_module._drawn.cache_clear()
        monkeypatch.setattr(page_module, "draw_svg", lambda source, dot=None, svg=active: svg)

        assert staff.get("/admin/workflow.svg").status_code == 503, active
        assert "<img" not in staff.get("/admin/workflow").text


@pytest.mark.parametrize("path", ["/admin/workflow", "/admin/workflow.svg"])
def test_a_visitor_is_sent_to_the_login_first(visitor: TestClient, path: str) -> None:
    response = visitor.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/login?next={path}"
