"""ARM calls under one deadline: bounded retries, long-running operations, conditional writes,
call counting. Diagnostics reads with it; remediation writes with it.

Retry policy (Azure's guidance for transient faults): a request time-out (408), throttling (429),
server errors (500, 502, 503, 504) and dropped connections are retried with tenacity — after the
wait the service asks for (`Retry-After`, or Azure's millisecond headers), else after an
exponential backoff with jitter (`backoff_seconds`: 0.5, 1, 2, 4, 5, 5, ... s plus up to 0.5 s at
random) — for as long as the next attempt starts before one deadline shared by the whole diagnosis
(or fix): `budget_seconds` from the `Arm`'s creation, `DEFAULT_BUDGET_SECONDS` (60 s) unless the
caller passes another. There is no small attempt cap: eight 500s on the first gateway read are
waited out (about 30 s) when the budget allows. `MAX_ATTEMPTS` only stops a service that keeps
asking for an immediate retry from being called without end. A call gives up when the next wait
would end past the deadline (a `Retry-After` beyond it gives up at once). The SDK's own
RetryPolicy is switched off per call (`retry_total=0`) so the two retry loops do not multiply and
the deadline is real. A long-running operation is started once: a throttled or failed status poll
is retried as a poll (the poller resumed from its continuation token), never by sending the
starting request again (`Arm.long_running`). Permission (403) and not-found (404)
answers are final. Every failure comes out as `ArmCallFailed` with a one-line reason that a
check can report as is. A conditional write (`write_if_match`) sends the etag the resource was
read with as `If-Match`; when someone else changed the resource since, ARM answers 412 and the
call raises `PreconditionFailed` (an `ArmCallFailed`) instead of overwriting their change.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    ServiceRequestError,
    ServiceResponseError,
    map_error,
)
from azure.core.pipeline.policies import ContentDecodePolicy
from azure.core.polling import LROPoller
from azure.core.rest import HttpRequest
from azure.mgmt.core.exceptions import ARMErrorFormat
from azure.mgmt.core.polling.arm_polling import ARMPolling

from core.azure_clients import AzureClients, CallCountingPolicy
from core.retry_after import requested_wait

T = TypeVar("T")

DEFAULT_BUDGET_SECONDS = 60.0
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# A guard against a service that keeps answering "retry now", not a budget: with the backoff below,
# the deadline ends the retries of a 60 s diagnosis after about fifteen attempts.
MAX_ATTEMPTS = 40
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 5.0
BACKOFF_JITTER_SECONDS = 0.5
_REASON_LENGTH = 240


# The Microsoft.Network api-version azure-mgmt-network (the version requirements.lock pins) sends:
# `list_json` reads lists with it (tests/core/test_arm_lists.py proves the SDK's own requests do).
NETWORK_API_VERSION = "2026-03-01"
# What the SDK's operations raise for these answers (the rest: HttpResponseError in ARM's format).
_ERROR_MAP = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}


def _json_body(chunks: Any) -> Any:
    """The JSON of a body an SDK operation streamed (`stream=True`: an iterator of bytes)."""
    return json.loads(b"".join(chunks))


def list_json(client: Any, path: str, *, api_version: str, **options: Any) -> list[Any]:
    """Every item of an ARM list (`value` of each page, following `nextLink`) as ARM sent it: plain
    JSON, not SDK models. For the lists whose items the diagnosis reads by their wire names only
    (`core.sdk_values.json_fields`): building a model per item costs far more than reading it (1,000
    NICs: about 130 ms of the SDK's own deserialization). Read through the client's `send_request`,
    so through its pipeline (credential, call counting, `options` such as `retry_total`) as its
    operations are; an answer other than 200 raises what the SDK's operations raise for it. Each
    page is asked for as a stream and parsed here once, from its bytes (without `stream=True` the
    pipeline parses every body, and `response.json()` would parse it again: 1,000 NICs are 0.8 MB)."""
    items: list[Any] = []
    request = HttpRequest("GET", path, params={"api-version": api_version})
    while True:
        response = client.send_request(request, stream=True, **options)
        response.read()  # the whole page, inside the caller's attempt (a lost connection is retried)
        if response.status_code != 200:
            map_error(status_code=response.status_code, response=response, error_map=_ERROR_MAP)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        page = json.loads(response.content)
        value = page.get("value", []) if isinstance(page, dict) else None
        if not isinstance(value, list):  # a page without `value` lists nothing, as the SDK reads it
            raise HttpResponseError(f"the list at {path} answered without a list of items", response=response)
        items += value
        next_link = page.get("nextLink")
        if not next_link:
            return items
        request = HttpRequest("GET", next_link)


def _continuation_token(poller: LROPoller[Any]) -> str | None:
    """The token that resumes `poller`'s operation (its first answer, serialized: made only when a
    poll is retried, not for every operation); None when it cannot be resumed."""
    try:
        return poller.continuation_token()
    except Exception:
        return None


class _JsonResultPolling(ARMPolling):
    """ARM's own polling (what the SDK's `begin_*` operations poll with), handing back the
    operation's result as the JSON ARM sent, not as an SDK model: given as the documented `polling`
    keyword, it replaces the deserialization the operation passes in (see `Arm.long_running`)."""

    def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any) -> None:
        super().initialize(client, initial_response, _json_of)


def _json_of(pipeline_response: Any) -> Any:
    """The result's JSON: as the pipeline's ContentDecodePolicy already parsed it for the poller
    (a final GET is sent with `stream=False`), else parsed here (backend health for 1,000 servers is
    0.4 MB: parsing it twice costs more than the rest of the poll)."""
    parsed = pipeline_response.context.get(ContentDecodePolicy.CONTEXT_NAME)
    return parsed if parsed is not None else pipeline_response.http_response.json()


class ArmCallFailed(Exception):
    """An ARM call that did not succeed, with a one-line reason for `Snapshot.errors`."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class PreconditionFailed(ArmCallFailed):
    """A conditional write refused with 412: the resource changed since its etag was read.

    Nothing was written. Re-read the resource and decide again; never retry with the old etag.
    (A write whose first attempt was applied but whose answer was lost also ends here, since the
    write itself changed the etag: re-reading shows which.)
    """


class _LroTimeout(Exception):
    pass


class _LroFailed(Exception):
    """The long-running operation ran and ended `Failed` (ARM answered the poll with 200 and an error)."""


def lro_failure(error: HttpResponseError) -> str | None:
    """`long-running operation failed: <code>: <message>` when `error` is an operation that ended
    Failed (its poll answered 2xx), else None (an HTTP error of the request itself)."""
    status = status_of(error)
    if status is None or not 200 <= status < 300:
        return None
    odata = getattr(error, "error", None)
    code = getattr(odata, "code", None) or "Failed"
    message = " ".join(str(getattr(odata, "message", None) or error.reason or "").split())
    text = (
        f"long-running operation failed: {code}: {message}"
        if message
        else f"long-running operation failed: {code}"
    )
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 1] + "…"


def describe(error: BaseException) -> str:
    """One line: `403 AuthorizationFailed: The client ...` for ARM errors, the message otherwise."""
    if isinstance(error, HttpResponseError):
        status = getattr(error, "status_code", None) or (
            error.response.status_code if error.response else None
        )
        odata = getattr(error, "error", None)
        code = getattr(odata, "code", None)
        message = getattr(odata, "message", None) or error.reason or str(error)
        text = " ".join(str(part) for part in (status, f"{code}:" if code else None, message) if part)
    else:
        text = str(error) or type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 1] + "…"


def status_of(error: BaseException) -> int | None:
    if isinstance(error, HttpResponseError):
        return getattr(error, "status_code", None) or (error.response.status_code if error.response else None)
    return None


def retry_after_seconds(error: BaseException) -> float | None:
    """The wait the service asked for with its error answer (see `core.retry_after`)."""
    response = getattr(error, "response", None)
    return requested_wait(getattr(response, "headers", None))


def backoff_seconds(attempt: int, *, rng: random.Random | None = None) -> float:
    """The wait after failed attempt number `attempt` (1-based) when the service named none:
    0.5 s doubling up to 5 s, plus a random 0..0.5 s so concurrent callers spread out."""
    exponential = BACKOFF_FIRST_SECONDS * 2 ** max(0, min(attempt - 1, 16))
    return min(BACKOFF_MAX_SECONDS, exponential) + (rng or random).uniform(0, BACKOFF_JITTER_SECONDS)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        return True
    return status_of(error) in RETRYABLE_STATUS


@dataclass
class CallTally:
    """The HTTP requests one diagnosis sent (each retry and poll counts), thread-safe."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, http_request: Any) -> None:
        with self._lock:
            self.requests.append((http_request.method, http_request.url))

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)


class Arm:
    """Calls the SDK for one diagnosis under one deadline (`budget_seconds` from creation)."""

    def __init__(self, clients: AzureClients, *, budget_seconds: float = DEFAULT_BUDGET_SECONDS) -> None:
        self.clients = clients
        self.budget_seconds = budget_seconds
        self.deadline = time.monotonic() + budget_seconds
        self.tally = CallTally()
        self._counted = getattr(clients, "call_counter", None) is not None
        self._attempts = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """HTTP requests sent when the clients count them, else SDK operations attempted."""
        if self._counted:
            return self.tally.count
        with self._lock:
            return self._attempts

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def call(self, operation: Callable[..., T], *args: Any, json_result: bool = False, **kwargs: Any) -> T:
        """One SDK operation, e.g. `arm.call(network.virtual_networks.get, rg, name)`; with
        `json_result`, its answer is the JSON ARM sent, not the SDK's model of it (for a caller that
        reads by wire names, or makes the model later, off its critical path). The request, its
        errors and its retries are the operation's own: the operation is asked for its body as a
        stream (`stream=True`), which is read here, inside the attempt (a connection lost while reading
        is retried like one lost before the answer)."""
        if json_result:
            return self._retrying(
                lambda: _json_body(operation(*args, stream=True, **self._options(), **kwargs))
            )
        return self._retrying(lambda: operation(*args, **self._options(), **kwargs))

    def long_running(
        self, begin: Callable[..., LROPoller[T]], *args: Any, json_result: bool = False, **kwargs: Any
    ) -> T:
        """A long-running operation to its result, started once; with `json_result`, the result is
        the JSON ARM sent, not the SDK's model of it (for results read by wire names only: making
        the model of 1,000 servers' backend health costs more than reading them).

        The starting request (the POST, PUT or DELETE) is retried like any call when it fails
        transiently: nothing was started. Once ARM accepted it, a status poll (or the final GET of
        the result) that is throttled (429), fails transiently (5xx, 408) or loses its connection is
        retried as a poll: after the wait the service asked for (`Retry-After`), else the backoff,
        the poller is resumed from its continuation token (`begin_*(continuation_token=...)`, which
        sends no request of its own) and polls the same operation's status URL again — it is never
        started a second time. (The SDK's own RetryPolicy, which would retry the poll inside the
        poller, is off for every request: `retry_total=0`, see the module docstring.)
        """
        started: list[LROPoller[T]] = []  # the poller of the operation ARM accepted, once it did

        def run() -> T:
            options = self._options()
            if json_result:  # what the operation polls with, as it makes it (`ARMPolling(delay, ...)`)
                options["polling"] = _JsonResultPolling(
                    self.clients.polling_interval,
                    path_format_arguments={"endpoint": self.clients.endpoint},
                    **options,
                )
            token = _continuation_token(started[0]) if started else None
            if token is not None:
                poller = begin(*args, continuation_token=token, **options, **kwargs)
            else:  # not started yet, or a poller that cannot be resumed: started (again), as before
                poller = begin(*args, **options, **kwargs)
                started[:] = [poller]
            try:
                poller.wait(timeout=max(0.0, self.remaining()))
                if not poller.done():
                    raise _LroTimeout(
                        f"timed out: still running when the diagnosis' {self.budget_seconds:g} s "
                        "budget ran out"
                    )
                return poller.result()
            except HttpResponseError as error:
                failed = lro_failure(error)
                if failed is None:
                    raise
                raise _LroFailed(failed) from error

        return self._retrying(run)

    def write_if_match(self, begin: Callable[..., LROPoller[T]], *args: Any, etag: str, **kwargs: Any) -> T:
        """A long-running write (`begin_create_or_update`) sent with `If-Match: <etag>`, to its
        result; raises `PreconditionFailed` when the resource's etag is no longer `etag`."""
        if not etag:
            raise ValueError("a conditional write needs the etag the resource was read with")
        headers = {**(kwargs.pop("headers", None) or {}), "If-Match": etag}
        return self.long_running(begin, *args, headers=headers, **kwargs)

    def _options(self) -> dict[str, Any]:
        timeout = max(1.0, self.remaining())
        options: dict[str, Any] = {
            "retry_total": 0,
            "connection_timeout": min(10.0, timeout),
            "read_timeout": timeout,
        }
        if self._counted:
            options[CallCountingPolicy.OBSERVER_OPTION] = self.tally
        return options

    def _retrying(self, attempt: Callable[[], T]) -> T:
        def counted() -> T:
            with self._lock:
                self._attempts += 1
            return attempt()

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_transient),
            wait=self._wait,
            stop=self._stop,
            reraise=True,
        )
        try:
            return retrying(counted)
        except (_LroTimeout, _LroFailed) as error:
            raise ArmCallFailed(str(error)) from None
        except Exception as error:
            reason = describe(error)
            if status_of(error) == 412:
                raise PreconditionFailed(reason, status=412) from error
            if is_transient(error):
                attempts = retrying.statistics.get("attempt_number", 1)
                why = (
                    f"at the {MAX_ATTEMPTS}-attempt cap"
                    if attempts >= MAX_ATTEMPTS
                    else f"within the {self.budget_seconds:g} s retry budget"
                )
                reason = f"{reason} (gave up after {attempts} attempt{'s' if attempts != 1 else ''} {why})"
            raise ArmCallFailed(reason, status=status_of(error)) from error

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """The service's `Retry-After` when it sent one, else exponential backoff with jitter."""
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(error) if error is not None else None
        return asked if asked is not None else backoff_seconds(state.attempt_number)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        """Stop when the next attempt would start past the deadline (or at the attempt cap)."""
        if state.attempt_number >= MAX_ATTEMPTS:
            return True
        return time.monotonic() + state.upcoming_sleep >= self.deadline
