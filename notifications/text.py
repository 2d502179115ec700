"""Outside text made safe for each renderer.

Alert rule names, resource names, descriptions, probe messages, evidence and finding titles that
embed them come from outside (an alert payload, ARM, a backend's health probe). Whatever they hold,
a person sees them as typed and nothing else:

- `clean`: any text. Lone surrogates (which no UTF-8 message can carry) become U+FFFD.
- `one_line`: text that is one line where it is shown (a fact, a title, a Teams run): control
  characters, line and paragraph separators and bidi overrides become spaces, so an alert rule name
  with `\\n` cannot forge a second line of a card or an email.
- `markdown`: text for an Adaptive Card field that Teams reads as markdown (a TextBlock's text,
  `Fact.title` and `Fact.value`, the card's `fallbackText`): every markdown character is
  backslash-escaped, a leading `1.` loses its list meaning, and a URL or `www.` is defanged
  (`https[:]//…`, `www[.]…`) so Teams does not turn it into a live link. TextRuns need none of this:
  Teams never reads them as markdown.
- `header`: text for an email header (the Subject): one line, bounded, no encoded words;
  `email.message` encodes it.

HTML is escaped where it is built (`html.escape` in notifications.email), after `clean`/`one_line`.
"""

from __future__ import annotations

import re

from core.log_safety import LINE_BREAKING
from notifications.bounds import cut

# Characters markdown gives a meaning to (emphasis, links and images, code, headings, quotes, lists,
# tables, strikethrough, HTML and entities), backslash-escaped as CommonMark allows for any ASCII
# punctuation. Others (`.`, `:`) are left as typed; a leading `1.` is handled on its own.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()<>#+\-!|~&])")
_ORDERED_MARKER = re.compile(r"^(\d{1,9})\.")
# Where a link would start by itself (GFM autolinks, Teams' own link detection): `scheme://`, `www.`.
_AUTOLINK = re.compile(r"(?i)(://)|(www)\.")
_LINE_BREAKING = re.compile(f"[{LINE_BREAKING}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """`text` that any channel can encode: lone surrogates replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def one_line(text: str) -> str:
    """`text` on one line: controls, line/paragraph separators and bidi controls become spaces."""
    return _LINE_BREAKING.sub(" ", clean(text))


def markdown(text: str) -> str:
    """`text` for a field Teams renders as markdown, shown exactly as typed (on one line), inert."""
    line = one_line(text).strip()
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", _defang(line))
    return _ORDERED_MARKER.sub(r"\1\\.", escaped)


def header(text: str, limit: int) -> str:
    """`text` for an email header: one line, whitespace collapsed, at most `limit` characters, and no
    RFC 2047 encoded word (`=?utf-8?q?…?=`): `email.message` decodes one in a header it is given, and
    writes what it decodes to as is, so `=?utf-8?q?=0D=0ABcc:…?=` would add a header line."""
    line = " ".join(one_line(text).split()).replace("=?", "= ?")
    return cut(line, limit)


def _defang(text: str) -> str:
    """`https://x` -> `https[:]//x`, `www.x` -> `www[.]x`: shown, not linked (the brackets are then
    escaped like any other)."""

    def replace(match: re.Match[str]) -> str:
        return "[:]//" if match.group(1) else f"{match.group(2)}[.]"

    return _AUTOLINK.sub(replace, text)
