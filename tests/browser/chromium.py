"""Debian's Chromium for the browser tests: Playwright can't download its own here."""

from __future__ import annotations

import shutil

# As the machine's own check starts it: no sandbox (root), and none of Chromium's own
# calls to outside services, which a closed network refuses many at a time.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = "no chromium binary on PATH: install Debian's chromium (apt-get install chromium)"


def chromium() -> str | None:
    """The path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None
