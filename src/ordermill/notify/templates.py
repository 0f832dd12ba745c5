"""Where message templates come from: the store's own first, then ordermill's.

``ORDERMILL_TEMPLATES_DIR`` mirrors ``src/ordermill/templates/``: one folder per
channel, ``email/<audience>/<event type>.subject.txt`` (``.txt``, ``.html``) and
``sms/<event type>.txt``. A file there replaces the built-in one of the same name;
every other message keeps coming from ordermill.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader

from ordermill.config import Settings

BUILT_IN = Path(__file__).resolve().parent.parent / "templates"


def loader(settings: Settings, channel: str) -> ChoiceLoader:
    """The templates of ``channel`` (``email``, ``sms``): the store's, then the built-in."""
    loaders: list[BaseLoader] = []
    if settings.templates_dir:
        loaders.append(FileSystemLoader(str(Path(settings.templates_dir) / channel)))
    loaders.append(FileSystemLoader(str(BUILT_IN / channel)))
    return ChoiceLoader(loaders)
