"""Log records made safe to write: no secrets, and one record is one line.

`SafeLogFilter` runs on every handler the app's logging goes through (`protect_handlers`, called by
`core.settings.configure_telemetry`), so it sees the app's own records and third-party ones alike
(urllib3 and azure.core log request URLs at DEBUG). For each record it

- redacts secrets: the `sig=` of a Teams Workflows (Logic Apps) webhook URL and of SAS URLs, an
  Azure Functions `code=` key, tokens and passwords in query strings, account keys in connection
  strings, bearer tokens;
- escapes control characters (CR, LF, ESC, NUL, the Unicode line and paragraph separators, bidi
  overrides, lone surrogates) as `\\r`, `\\n`, `\\x1b`, `\\u2028`... so an alert id carrying
  `\\r\\nERROR forged` cannot start a second log line, or hide text on a terminal;

in the formatted message (the arguments are merged into it) and in every string `extra` field (the
custom dimensions Application Insights records). A traceback (`exc_text`, `stack_info`) keeps its
line breaks but loses its secrets; an exception whose text held one is replaced, for the handlers
that read `exc_info` themselves (the OpenTelemetry exporter), by a `RedactedError` carrying its
redacted text, its type and traceback kept.

The record is changed in place: Python 3.11's handler filters cannot return a copy, and every
handler the record reaches next then sees the safe version.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

_REDACTED = "[redacted]"
# A secret query parameter (also percent-encoded, inside another URL's query) and its value.
_QUERY_SECRET = re.compile(
    r"((?:[?&;]|%26|%3F)(?:sig|signature|code|access_token|id_token|refresh_token|client_secret|"
    r"password|token|api[-_]?key|subscription-key)(?:=|%3D))[^&\s'\"<>()#\\]+",
    re.IGNORECASE,
)
# A bare signature anywhere (`sig=...` however it is quoted or split).
_SIGNATURE = re.compile(r"(sig(?:=|%3D))(?!\[redacted\])[^&\s'\"<>()#\\]+", re.IGNORECASE)
_CONNECTION_SECRET = re.compile(
    r"((?:AccountKey|SharedAccessKey|SharedAccessSignature|ClientSecret|Password)=)[^;\s'\"\\]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)

# C0 and C1 controls (CR, LF, ESC, NUL, NEL...), the Unicode line and paragraph separators, bidi
# controls, and lone surrogates (which no UTF-8 stream can carry).
# (`LINE_BREAKING` without the surrogates: what the notifications turn into spaces.)
LINE_BREAKING = "\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{LINE_BREAKING}\ud800-\udfff]")
_SHORT = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}

# What every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def redact_secrets(text: str) -> str:
    """`text` with the values of secrets (signatures, keys, tokens) replaced by `[redacted]`."""
    if not text:
        return text
    text = _QUERY_SECRET.sub(rf"\1{_REDACTED}", text)
    text = _SIGNATURE.sub(rf"\1{_REDACTED}", text)
    text = _CONNECTION_SECRET.sub(rf"\1{_REDACTED}", text)
    return _BEARER.sub(rf"\1{_REDACTED}", text)


def escape_controls(text: str) -> str:
    """`text` on one line: control characters written as escapes (`\\r`, `\\n`, `\\x1b`, `\\u2028`)."""
    return _CONTROL.sub(_escape_one, text)


def safe_log_text(text: str) -> str:
    """What may go into a log line: no secret, no control character."""
    return escape_controls(redact_secrets(text))


class RedactedError(Exception):
    """Logged in place of an exception whose text held a secret: `type: message`, redacted."""


class SafeLogFilter(logging.Filter):
    """Redacts secrets and escapes control characters in a record's message and `extra` fields.

    Never drops a record. A message whose arguments do not format is left for the handler to report,
    as logging does for any bad record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) or record.args:
            try:
                message = record.getMessage()
            except Exception:  # the handler's own error reporting says what is wrong with the call
                return True
            record.msg, record.args = safe_log_text(message), ()
        fields = vars(record)
        for key, value in list(fields.items()):
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                fields[key] = safe_log_text(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            _redact_exception(record)
        if record.exc_text:
            record.exc_text = _multiline(record.exc_text)
        if record.stack_info:
            record.stack_info = _multiline(record.stack_info)
        return True


def protect_handlers(logger_names: Iterable[str] = ()) -> int:
    """Put one `SafeLogFilter` on every handler of the root logger, of `logger_names` and of every
    other logger that has handlers (the Functions host's, the Application Insights exporter's).
    Idempotent and cheap: call it again after a handler is added. Returns how many were added."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in logger_names)]
    loggers += [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger) and logger.handlers
    ]
    added = 0
    for logger in loggers:
        for handler in list(logger.handlers):
            if not any(isinstance(existing, SafeLogFilter) for existing in handler.filters):
                handler.addFilter(_FILTER)
                added += 1
    return added


def _redact_exception(record: logging.LogRecord) -> None:
    """Swap an exception that holds a secret (in its message or a cause's) for a `RedactedError`."""
    exc_type, error, trace = record.exc_info or (None, None, None)
    if exc_type is None or error is None or record.exc_text is None:
        return
    if redact_secrets(record.exc_text) == record.exc_text:
        return
    message = "".join(traceback.format_exception_only(exc_type, error)).strip()
    record.exc_info = (exc_type, RedactedError(redact_secrets(message)), trace)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _multiline(text: str) -> str:
    """A traceback: secrets redacted and controls escaped, line by line (its line breaks stay)."""
    return "\n".join(safe_log_text(line) for line in redact_secrets(text).split("\n"))


_FILTER = SafeLogFilter()
