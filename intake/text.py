"""Text intake accepts: well-formed Unicode, no control characters, bounded length.

Whatever intake accepts later becomes a state key (hashed as UTF-8), a queue message, a log field, an
HTTP or mail header, so it is checked here, once, at the door: a lone surrogate cannot be encoded as
UTF-8, a CR or LF forges a log line or a header, and a megabyte "id" is no id. Refusals name the field
and never echo the offending text raw (`shown`).
"""

from __future__ import annotations

import unicodedata

from intake.errors import bad_request

# One-line text (ids, names, keys, anything logged or sent as a header): no control characters (Cc:
# CR, LF, NUL, ESC, ...), no format characters (Cf: bidi overrides, zero-width characters), no line or
# paragraph separators, no surrogates (Cs: only a lone one survives JSON decoding; it is not Unicode).
_NOT_IN_A_LINE = ("Cc", "Cf", "Cs", "Zl", "Zp")
# Free text (a description) may span lines and be tabbed, and carry format characters (emoji joiners).
_FREE_TEXT_WHITESPACE = frozenset("\t\n\r")

MAX_ID = 1024  # an alert id, an Event Grid event id or subject
MAX_NAME = 1024  # an alert rule name, a resource id
MAX_SHORT = 64  # a severity, an operator, a threshold


def text_problem(value: str, *, max_length: int, multiline: bool = False) -> str | None:
    """Why `value` is not acceptable text (a phrase such as "contains a control character (U+000A)"),
    or None when it is."""
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            return f"is not well-formed Unicode (lone surrogate U+{ord(char):04X})"
        if multiline:
            if category == "Cc" and char not in _FREE_TEXT_WHITESPACE:
                return f"contains a control character (U+{ord(char):04X})"
        elif category in _NOT_IN_A_LINE:
            return f"contains a control or format character (U+{ord(char):04X})"
    return None


def is_clean_text(value: object, *, max_length: int, multiline: bool = False) -> bool:
    return isinstance(value, str) and text_problem(value, max_length=max_length, multiline=multiline) is None


def checked_text(value: object, field: str, *, max_length: int, multiline: bool = False) -> str:
    """`value` if it is acceptable text, else IntakeError 400 invalid_field naming `field`."""
    if not isinstance(value, str):
        raise bad_request("invalid_field", f"{field} must be text")
    problem = text_problem(value, max_length=max_length, multiline=multiline)
    if problem is not None:
        raise bad_request("invalid_field", f"{field} {problem}")
    return value


def shown(value: str, limit: int = 120) -> str:
    """`value` quoted for a message or a log line: ASCII only (control characters, surrogates and
    everything else non-ASCII escaped), at most `limit` characters of it."""
    text = ascii(value[:limit])
    return text + ("..." if len(value) > limit else "")
