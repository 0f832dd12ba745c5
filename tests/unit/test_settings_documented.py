"""Every setting a store owner can give is documented, under its variable's name."""

from __future__ import annotations

from pathlib import Path

from ordermill.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = (ROOT / "README.md", ROOT / "docs" / "NOTIFICATIONS.md")


def test_every_setting_appears_in_a_settings_table() -> None:
    text = "\n".join(path.read_text() for path in DOCUMENTS)
    missing = [
        ENV_PREFIX + name.upper()
        for name in Settings.model_fields
        if f"| `{ENV_PREFIX}{name.upper()}` |" not in text
    ]
    assert missing == []
