"""The work queue, written to directly when a message must wait: the sweep's items are sent with a
visibility timeout (each invisible until its turn in the sweep's spread) and a deferred sweep item is
sent again for its retry time. The queue holds them meanwhile: no worker sleeps, nothing is lost when
an instance stops, and a message's dequeue count (poison after `maxDequeueCount`) does not grow while
it waits.

The Functions queue output binding cannot delay a message, hence `azure-storage-queue`. Messages are
base64-encoded, as the queue trigger expects by default (host.json `messageEncoding`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from azure.core.credentials import TokenCredential
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from appgw_doctor.pipeline import WorkItem

log = logging.getLogger("appgw_doctor.work_queue")

MAX_DELAY = timedelta(days=7) - timedelta(seconds=1)  # the service's longest visibility timeout
SEND_WORKERS = 8


class WorkQueue:
    def __init__(self, client: QueueClient) -> None:
        self._client = client

    @classmethod
    def from_connection_string(cls, connection_string: str, queue_name: str) -> WorkQueue:
        return cls(
            QueueClient.from_connection_string(
                connection_string, queue_name, message_encode_policy=TextBase64EncodePolicy()
            )
        )

    @classmethod
    def from_endpoint(cls, endpoint: str, queue_name: str, credential: TokenCredential) -> WorkQueue:
        """For a managed identity: `https://<account>.queue.core.windows.net` and a TokenCredential."""
        return cls(
            QueueClient(
                endpoint, queue_name, credential=credential, message_encode_policy=TextBase64EncodePolicy()
            )
        )

    def send(self, message: str, *, delay: timedelta = timedelta(0)) -> None:
        """Enqueue `message`, invisible for `delay` (whole seconds, rounded up; at most ~7 days)."""
        seconds = math.ceil(min(max(delay, timedelta(0)), MAX_DELAY).total_seconds())
        self._client.send_message(message, visibility_timeout=seconds or None)

    def send_items(self, items: Iterable[WorkItem], *, now: datetime) -> list[WorkItem]:
        """Each item, invisible until its `not_before`. Returns the items that could not be sent (the
        caller hands them to the output binding: they carry `not_before`, and the worker defers an
        item that comes before its time), after logging why."""
        items = list(items)

        def send(item: WorkItem) -> Exception | None:
            try:
                delay = (item.not_before - now) if item.not_before else timedelta(0)
                self.send(item.to_message(), delay=delay)
            except Exception as error:
                return error
            return None

        with ThreadPoolExecutor(SEND_WORKERS, thread_name_prefix="queue-send") as pool:
            errors = list(pool.map(send, items))
        unsent = [item for item, error in zip(items, errors, strict=True) if error is not None]
        if unsent:
            first = next(error for error in errors if error is not None)
            log.warning("%d of %d work messages could not be sent with their delay (%s: %s)",
                        len(unsent), len(items), type(first).__name__, str(first)[:300])  # fmt: skip
        return unsent

    def close(self) -> None:
        self._client.close()
