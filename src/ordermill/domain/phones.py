"""Phone numbers, as text messages need them: E.164, a ``+`` then 7 to 15 digits.

People type numbers with spaces, dashes, dots and parentheses (``+1 (555) 010-2030``);
those are removed before the number is checked, and the number is stored bare
(``+15550102030``).
"""

from __future__ import annotations

import re

from ordermill.errors import InvalidInput

# What a stored number looks like.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
# What a person may type: the same digits, with separators anywhere around them.
INPUT_PATTERN = r"^[ ().-]*\+[ ().-]*[1-9](?:[ ().-]*[0-9]){6,14}[ ().-]*$"
# Room for a 15-digit number with a separator between every two characters.
MAX_INPUT_LENGTH = 40
ACCEPTS = (
    "an international phone number: + then 7 to 15 digits, the first not 0"
    " (spaces, dashes, dots and parentheses are ignored), like +15550102030"
)

_E164 = re.compile(E164_PATTERN, re.ASCII)
_SEPARATORS = str.maketrans("", "", " ().-")


def normalize_phone(text: str, *, field: str = "phone") -> str:
    """``text`` as an E.164 number, or ``InvalidInput`` naming ``field`` and what it accepts."""
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidInput(f"{field} must be {ACCEPTS}", field=field)
    bare = text.strip().translate(_SEPARATORS)
    if not _E164.fullmatch(bare):
        raise InvalidInput(f"{field} must be {ACCEPTS}", field=field)
    return bare
