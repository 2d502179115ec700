"""Delivering a message to its channels, reliably, and saying how each delivery went.

Each channel is delivered on its own thread with its own retries, so a webhook that keeps answering
429 never delays the email, and a failing SMTP relay never stops the Teams post. Transient failures
(HTTP 429 and 5xx, connection errors, SMTP 4xx replies) are retried with exponential backoff,
honouring `Retry-After`, within a bounded total time; permanent ones (other 4xx, SMTP 5xx) are not.
`notify` never raises for a delivery failure: it returns one `DeliveryResult` per channel so the
pipeline can write failures into the incident record. Error texts are passed through `redact` first:
a Workflows URL's query string is its signature, and `requests` puts the whole URL in its errors.

With `outbox_dir`, nothing is sent: the Teams payload and the email are written as files
(`<id>-teams.json`, `<id>-email.eml`, named by the message id: the incident, or the diagnosis for a
preventive message; `-resolved-` for resolution messages; `approval-<approval id>-<decision>-` for
the follow-up to an approval's decision), whatever the targets, so a demo or a dry run shows exactly
what would have gone out.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import requests
import tenacity

from core.log_safety import redact_secrets
from core.retry_after import parse_retry_after
from notifications.content import IncidentMessage
from notifications.email import SmtpSecurityError, build_email, send_email
from notifications.routing import ChannelTarget, EmailTarget, TeamsTarget, should_send
from notifications.teams import build_payload, serialize

log = logging.getLogger(__name__)

OUTBOX_SENDER = "appgw-doctor@localhost"
OUTBOX_RECIPIENT = "on-call@localhost"
# A query string on a URL or a request path (`…/invoke?api-version=…&sig=…`), and a bare signature.
_QUERY = re.compile(r"(?<=[^\s'\"(<])\?[^\s'\"<>()]*=[^\s'\"<>()]*")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one channel. `sleep` is the wait between attempts (tests record it)."""

    max_attempts: int = 5
    initial_wait: float = 1.0
    max_wait: float = 30.0
    total_seconds: float = 120.0
    http_timeout: float = 20.0
    sleep: Callable[[float], None] = field(default=tenacity.nap.sleep, compare=False)


@dataclass(frozen=True)
class DeliveryResult:
    """How one channel went. `target` never contains a secret (the webhook's query is dropped)."""

    channel: str
    target: str
    ok: bool
    attempts: int
    error: str | None = None

    @property
    def key(self) -> str:
        return delivery_key(self.channel, self.target)


class TransientDeliveryError(Exception):
    """A failure worth retrying; `retry_after` is the server's requested wait in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """A failure that retrying will not fix (the webhook is gone, the recipient is refused)."""


def notify(
    message: IncidentMessage,
    targets: Sequence[ChannelTarget],
    *,
    outbox_dir: str | Path | None = None,
    retry: RetryPolicy | None = None,
    ssl_context: ssl.SSLContext | None = None,
    skip: Collection[str] = (),
    on_result: Callable[[DeliveryResult], None] | None = None,
) -> list[DeliveryResult]:
    """Deliver `message` to every target whose threshold it reaches; one result per delivery.

    Targets whose `delivery_key` is in `skip` (already delivered by an earlier attempt) are left out.
    `on_result` is called with each result as soon as its channel is done (from that channel's
    thread), so a caller can record a delivered channel before the next one finishes; an error in it
    is logged and does not change the result."""
    if outbox_dir is not None:
        results = write_outbox(message, targets, Path(outbox_dir))
        for result in results:
            _report(on_result, result)
        return results
    policy = retry or RetryPolicy()
    chosen = [
        target
        for target in targets
        if should_send(message, target) and delivery_key(target.channel, target.label) not in skip
    ]
    if not chosen:
        return []

    def deliver(target: ChannelTarget) -> DeliveryResult:
        result = _deliver(message, target, policy, ssl_context)
        _report(on_result, result)
        return result

    with ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="notify") as pool:
        futures = [pool.submit(deliver, target) for target in chosen]
        results = []
        for target, future in zip(chosen, futures, strict=True):
            try:
                results.append(future.result())
            except Exception as error:  # a bug in one channel must not cost the others their result
                results.append(_failed(target, 1, f"{type(error).__name__}: {error}"))
        return results


def delivery_key(channel: str, target: str) -> str:
    """What names one delivery of a message across attempts: `teams:<webhook without query>`,
    `email:<recipients>` (no secret in it: it is recorded on the incident)."""
    return f"{channel}:{target}"


def _report(on_result: Callable[[DeliveryResult], None] | None, result: DeliveryResult) -> None:
    if on_result is None:
        return
    try:
        on_result(result)
    except Exception:  # recording a delivery must not turn a delivered message into a failure
        log.exception("could not record the delivery to %s", result.channel)


def redact(text: str) -> str:
    """`text` without URL query strings or signatures: safe for the incident record and logs."""
    return redact_secrets(_QUERY.sub("?[query redacted]", text))


def write_outbox(
    message: IncidentMessage, targets: Sequence[ChannelTarget], outbox: Path
) -> list[DeliveryResult]:
    """Write what would be sent: the Teams payload as JSON and the email as an .eml file."""
    outbox.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(message)
    email_target = next((t for t in targets if isinstance(t, EmailTarget)), None)
    sender = email_target.smtp.sender if email_target else OUTBOX_SENDER
    recipients = email_target.recipients if email_target else (OUTBOX_RECIPIENT,)
    card_path = outbox / f"{stem}-teams.json"
    card_path.write_bytes(serialize(build_payload(message)))
    eml_path = outbox / f"{stem}-email.eml"
    eml_path.write_bytes(build_email(message, sender=sender, recipients=recipients).as_bytes())
    return [
        DeliveryResult("teams", str(card_path), ok=True, attempts=1),
        DeliveryResult("email", str(eml_path), ok=True, attempts=1),
    ]


def post_teams(payload_bytes: bytes, webhook_url: str, *, timeout: float) -> None:
    """One POST to a Workflows webhook. Raises Transient/PermanentDeliveryError on failure."""
    try:
        response = requests.post(
            webhook_url, data=payload_bytes, headers={"Content-Type": "application/json"}, timeout=timeout
        )
    except (requests.ConnectionError, requests.Timeout) as error:
        raise TransientDeliveryError(f"{type(error).__name__}: {error}") from error
    if response.ok:
        return
    detail = f"HTTP {response.status_code}: {response.text[:200].strip()}"
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientDeliveryError(detail, parse_retry_after(response.headers.get("Retry-After")))
    raise PermanentDeliveryError(detail)


def _deliver(
    message: IncidentMessage, target: ChannelTarget, policy: RetryPolicy, ssl_context: ssl.SSLContext | None
) -> DeliveryResult:
    if isinstance(target, TeamsTarget):
        body = serialize(build_payload(message))

        def attempt() -> None:
            post_teams(body, target.webhook_url, timeout=policy.http_timeout)

    else:
        email = build_email(message, sender=target.smtp.sender, recipients=target.recipients)

        def attempt() -> None:
            _send_email_once(email, target, ssl_context)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientDeliveryError),
        stop=tenacity.stop_after_attempt(policy.max_attempts)
        | tenacity.stop_before_delay(policy.total_seconds),
        wait=_wait(policy),
        sleep=policy.sleep,
        reraise=True,
    )
    try:
        retrying(attempt)
    except PermanentDeliveryError as error:
        return _failed(target, _attempts(retrying), str(error))
    except TransientDeliveryError as error:
        detail = str(error)
        if error.retry_after is not None:
            detail += f" (Retry-After {error.retry_after:g}s)"
        attempts = _attempts(retrying)
        detail += f"; gave up after {attempts} attempt{'s' if attempts > 1 else ''}"
        return _failed(target, attempts, detail)
    return DeliveryResult(target.channel, target.label, ok=True, attempts=_attempts(retrying))


def _failed(target: ChannelTarget, attempts: int, error: str) -> DeliveryResult:
    return DeliveryResult(target.channel, target.label, ok=False, attempts=attempts, error=redact(error))


def _send_email_once(email: EmailMessage, target: EmailTarget, ssl_context: ssl.SSLContext | None) -> None:
    try:
        send_email(email, target.smtp, ssl_context=ssl_context)
    except smtplib.SMTPResponseException as error:
        detail = f"SMTP {error.smtp_code}: {_smtp_text(error.smtp_error)}"
        if 400 <= error.smtp_code < 500:
            raise TransientDeliveryError(detail) from error
        raise PermanentDeliveryError(detail) from error
    except smtplib.SMTPRecipientsRefused as error:
        codes = {code for code, _ in error.recipients.values()}
        detail = f"recipients refused: {', '.join(sorted(error.recipients))}"
        if all(400 <= code < 500 for code in codes):
            raise TransientDeliveryError(detail) from error
        raise PermanentDeliveryError(detail) from error
    except ssl.SSLCertVerificationError as error:
        raise PermanentDeliveryError(f"TLS certificate not trusted: {error.verify_message}") from error
    except SmtpSecurityError as error:  # an OSError like a dropped connection, but retrying cannot help
        raise PermanentDeliveryError(str(error)) from error
    except (smtplib.SMTPServerDisconnected, OSError) as error:
        raise TransientDeliveryError(f"{type(error).__name__}: {error}") from error
    except smtplib.SMTPException as error:
        raise PermanentDeliveryError(f"{type(error).__name__}: {error}") from error


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientDeliveryError) and error.retry_after is not None:
            # Honoured as asked; when it exceeds the time left, `stop_before_delay` gives up instead.
            return error.retry_after
        return backoff(state)

    return wait


def _attempts(retrying: tenacity.Retrying) -> int:
    return int(retrying.statistics.get("attempt_number", 1))


def _smtp_text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _file_stem(message: IncidentMessage) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", message.message_id).strip("._") or "message"
    if message.kind == "approval":  # named by the approval: one file per decision
        decision = re.sub(r"[^A-Za-z0-9-]+", "_", message.decision or "decided")
        return f"approval-{safe}-{decision}"
    return f"{safe}-resolved" if message.kind == "resolved" else safe
