"""Pages as PDF files, with WeasyPrint, which reads nothing but the app's own stylesheets.

WeasyPrint is imported when a PDF is asked for: it needs the system's Pango, and a
server without it still serves every page (``renderer()`` is then ``None``, the
pages leave out their PDF links and the PDF routes answer 503).

The HTML is laid out as if it came from ``ORIGIN``, a name that can't exist
(``.invalid``). Every resource it names is asked of the fetcher below
(``static_file``), which serves files under ``/static/`` of that origin from the app's own
folder and refuses everything else: no other site, no ``file:`` or ``data:`` URL,
no way out of the folder. Nothing is ever fetched over the network.
"""

from __future__ import annotations

import importlib
import logging
import mimetypes
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("ordermill.web")
# WeasyPrint warns of every browser-only rule of the app's stylesheet it skips (media
# queries by width, SVG paints): expected, not news. Its errors, a refused fetch among
# them, still reach the log.
logging.getLogger("weasyprint").setLevel(logging.ERROR)

# The folder ``ordermill.web.pages`` serves at /static (not imported: that package imports this).
STATIC = Path(__file__).resolve().parent.parent.parent / "static"
ORIGIN = "http://ordermill.invalid"
STATIC_PREFIX = "/static/"


class PdfUnavailable(Exception):
    """This server can't make PDF files (WeasyPrint or its system libraries are missing)."""


def renderer() -> ModuleType | None:
    """WeasyPrint, or ``None`` where it can't be loaded (no Pango, not installed)."""
    try:
        return importlib.import_module("weasyprint")
    except (ImportError, OSError) as exc:
        log.debug("no PDF on this server: %s", exc)
        return None


def available() -> bool:
    return renderer() is not None


def static_file(url: str) -> tuple[bytes, str]:
    """The bytes and media type of the app's static file ``url`` names; anything else
    is refused with ``PermissionError``."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != ORIGIN or not parts.path.startswith(STATIC_PREFIX):
        raise PermissionError(f"only the app's own static files are read: {url}")
    root = STATIC.resolve()
    path = (root / unquote(parts.path[len(STATIC_PREFIX) :])).resolve()
    if root not in path.parents or not path.is_file():
        raise PermissionError(f"not one of the app's static files: {url}")
    return path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _fetcher(weasyprint: ModuleType) -> Any:
    """A WeasyPrint URL fetcher over ``static_file``, for its old and new interfaces."""
    urls = weasyprint.urls
    if hasattr(urls, "URLFetcherResponse"):  # WeasyPrint 68 and later

        class AppStaticOnly(urls.URLFetcher):  # type: ignore[misc, name-defined]
            def fetch(self, url: str, headers: Any = None) -> Any:
                body, media_type = static_file(url)
                return urls.URLFetcherResponse(url, body, {"Content-Type": media_type})

        return AppStaticOnly(fail_on_errors=False)

    def fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        body, media_type = static_file(url)
        return {"string": body, "mime_type": media_type, "redirected_url": url}

    return fetch


def render_pdf(html: str, path: str) -> bytes:
    """``html`` (a page the app rendered for ``path``) as a PDF document."""
    weasyprint = renderer()
    if weasyprint is None:
        raise PdfUnavailable
    document = weasyprint.HTML(
        string=html, base_url=ORIGIN + path, url_fetcher=_fetcher(weasyprint)
    )
    pdf: bytes = document.write_pdf()
    return pdf
