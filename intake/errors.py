"""The one error intake raises: an HTTP status, a stable code and a one-line message."""

from __future__ import annotations

from typing import Any


class IntakeError(Exception):
    """Input refused before anything else happens. Answered as `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(code: str, message: str) -> IntakeError:
    return IntakeError(400, code, message)
