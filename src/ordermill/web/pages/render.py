"""Rendering pages: one Jinja2 environment (autoescaped), flash messages, redirects.

Templates live in ``src/ordermill/templates/pages/``; every page extends
``base.html``. A page is rendered with ``render(request, "admin/x.html", ...)``,
which adds what every page needs: the visitor, the CSRF token for its forms, the
store's name and the messages left by the previous request (redirect-after-POST).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ordermill import __version__
from ordermill.config import Settings
from ordermill.display import money, store_name, when
from ordermill.errors import OrdermillError, catalogued
from ordermill.web.pages.sessions import csrf_token, set_csrf_cookie

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "pages"
FLASH_COOKIE = "ordermill_flash"
_FLASH_LIMIT = 5


@lru_cache(maxsize=8)
def environment(timezone: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "svg"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    zone = ZoneInfo(timezone)
    env.filters["money"] = money
    env.filters["when"] = lambda moment: when(moment, zone)
    env.filters["day"] = lambda moment: _day(moment, zone)
    env.globals["version"] = __version__
    return env


def _day(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d")


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page ``template`` filled with ``context`` and what every page shows."""
    settings = settings_of(request)
    env = environment(settings.timezone)
    audience = getattr(request.state, "audience", None)
    principal = getattr(request.state, f"principal_{audience.name}", None) if audience else None
    flashes = _read_flashes(request)
    html = env.get_template(template).render(
        request=request,
        path=request.url.path,
        principal=principal,
        csrf_token=csrf_token(request),
        store=store_name(settings),
        flashes=flashes,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers.setdefault("Cache-Control", "no-store")
    set_csrf_cookie(request, response)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


# ------------------------------------------------------------------ messages


def _read_flashes(request: Request) -> list[dict[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()).decode())
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    out = []
    for item in data[:_FLASH_LIMIT]:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            level = item.get("level")
            out.append({"level": level if level in ("ok", "error") else "ok", "text": item["text"]})
    return out


def redirect(
    request: Request, location: str, *, ok: str | None = None, error: str | None = None
) -> RedirectResponse:
    """Redirect-after-POST (303), leaving a message for the page it lands on."""
    response = RedirectResponse(location, status_code=303)
    messages = []
    if ok:
        messages.append({"level": "ok", "text": ok})
    if error:
        messages.append({"level": "error", "text": error})
    if messages:
        payload = base64.urlsafe_b64encode(json.dumps(messages).encode()).decode()
        response.set_cookie(
            FLASH_COOKIE,
            payload,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


def explain(error: OrdermillError) -> str:
    """A refusal in words: the service's message, and what its code means if it adds to it."""
    entry = catalogued(error.code)
    if entry is None or entry.meaning.rstrip(".") in error.message:
        return error.message
    return f"{error.message} ({entry.meaning.rstrip('.')})"
