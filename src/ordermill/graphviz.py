"""Drawing a diagram with Graphviz's ``dot`` program (the CLI's and the back office's)."""

from __future__ import annotations

import re
import shutil
import subprocess

from ordermill.errors import Code, error

DOT_TIMEOUT = 60  # seconds

# What has no place in a drawing of ours: scripts, event handlers, embedded documents, links.
_ACTIVE = re.compile(rb"<\s*script|<\s*foreignObject|\son[a-z]+\s*=|href\s*=|javascript:", re.I)


def find_dot() -> str | None:
    """Where ``dot`` is, or None when Graphviz is not installed."""
    return shutil.which("dot")


def draw_svg(source: str, dot: str | None = None) -> bytes:
    """``source`` (DOT language) drawn as SVG; ``graphviz_missing`` without a working ``dot``."""
    dot = dot or find_dot()
    if dot is None:
        raise error(Code.GRAPHVIZ_MISSING, "Graphviz's `dot` program is not installed")
    try:
        result = subprocess.run(
            [dot, "-Tsvg"],
            input=source.encode(),
            capture_output=True,
            check=False,
            timeout=DOT_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(Code.GRAPHVIZ_MISSING, f"Graphviz's `dot` failed: {exc}") from None
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        raise error(Code.GRAPHVIZ_MISSING, f"Graphviz's `dot` failed: {stderr}")
    return result.stdout


def is_inert(svg: bytes) -> bool:
    """Whether an SVG holds nothing that could run or lead elsewhere when opened."""
    return _ACTIVE.search(svg) is None
