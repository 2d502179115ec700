"""The shape of one entry of a world's ``backends`` section (see docs/WORLD_FORMAT.md).

``backend_problem`` checks an entry when the world is loaded, so a typo (``"ports": "eighty"``, a
negative ``responseSeconds``, an unknown ``chain``) is a one-line world error naming the JSON path
rather than a failed request later.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

CHAINS = ("complete", "missing-intermediate", "untrusted-root")
_KEYS = ("ports", "responseSeconds", "paths", "bodies", "body", "requireHost", "certificate")
_CERTIFICATE_KEYS = ("subject", "san", "notBefore", "notAfter", "chain")


def _integer(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _time(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return isinstance(value, str)


def _certificate_problem(certificate: Any) -> tuple[str, str] | None:
    if not isinstance(certificate, dict):
        return "", "must be a JSON object"
    for key in certificate:
        if key not in _CERTIFICATE_KEYS:
            return f".{key}", f"unknown key (known: {', '.join(_CERTIFICATE_KEYS)})"
    if "subject" in certificate and not isinstance(certificate["subject"], str):
        return ".subject", "must be a string"
    san = certificate.get("san", [])
    if not isinstance(san, list) or not all(isinstance(name, str) for name in san):
        return ".san", "must be a list of host names"
    for key in ("notBefore", "notAfter"):
        if key in certificate and not _time(certificate[key]):
            return f".{key}", f"not an ISO 8601 time: {json.dumps(certificate[key])}"
    if "chain" in certificate and str(certificate["chain"]).lower() not in CHAINS:
        return ".chain", f"must be one of {', '.join(CHAINS)}, got {json.dumps(certificate['chain'])}"
    return None


def backend_problem(entry: Any) -> tuple[str, str] | None:
    """(JSON path below the entry, problem) for the first thing wrong with an entry, or None."""
    if not isinstance(entry, dict):
        return "", "must be a JSON object"
    for key in entry:
        if key not in _KEYS:
            return f".{key}", f"unknown key (known: {', '.join(_KEYS)})"
    ports = entry.get("ports", [])
    if not isinstance(ports, list) or not all(_integer(port, 1, 65535) for port in ports):
        return ".ports", f"must be a list of port numbers (1-65535), got {json.dumps(ports)}"
    seconds = entry.get("responseSeconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        return ".responseSeconds", f"must be a number of seconds >= 0, got {json.dumps(seconds)}"
    paths = entry.get("paths", {})
    if not isinstance(paths, dict) or not all(_integer(status, 100, 599) for status in paths.values()):
        return ".paths", "must map request paths to HTTP status codes (100-599)"
    bodies = entry.get("bodies", {})
    if not isinstance(bodies, dict) or not all(isinstance(body, str) for body in bodies.values()):
        return ".bodies", "must map request paths to response bodies (strings)"
    for key in ("body", "requireHost"):
        if key in entry and not isinstance(entry[key], str):
            return f".{key}", "must be a string"
    if "certificate" in entry:
        problem = _certificate_problem(entry["certificate"])
        if problem is not None:
            return f".certificate{problem[0]}", problem[1]
    return None
