"""The composition root: app settings -> Azure SDK clients -> stages -> the one pipeline.

The Functions app (`pipeline_from_settings`), the CLI and the demo (`appgw_doctor.local`) build their
pipeline here and nowhere else, so a new stage (remediation, ...) is wired once for all of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from azure.identity import DefaultAzureCredential

from appgw_doctor.notify import NotifyStage
from appgw_doctor.pipeline import ClientsFor, Pipeline, Stage
from appgw_doctor.remediate import RemediateStage, rediagnose_with
from appgw_doctor.throttle import ThrottleWatch
from appgw_doctor.work_queue import WorkQueue
from core.azure_clients import ArmTarget, AzureClients, make_clients
from core.settings import ConfigError, Settings
from notifications.delivery import Notifier
from notifications.dispatch import RetryPolicy
from remediation.desk import ApprovalDesk, Notify
from remediation.engine import ApprovalSettings, Limits, Remediator
from state import StateStore
from state.remediation import RemediationLedger
from state.store import PruneCounts
from state.tables import TableBackend

log = logging.getLogger("appgw_doctor.wiring")


class ClientCache:
    """One set of SDK clients per subscription, shared by concurrent work (the clients are thread-safe)."""

    def __init__(self, factory: Callable[[str], AzureClients]) -> None:
        self._factory = factory
        self._clients: dict[str, AzureClients] = {}
        self._lock = threading.Lock()

    def __call__(self, subscription_id: str) -> AzureClients:
        with self._lock:
            if subscription_id not in self._clients:
                self._clients[subscription_id] = self._factory(subscription_id)
            return self._clients[subscription_id]


def clients_for_target(
    target: ArmTarget, *, polling_interval: float, throttle: ThrottleWatch | None = None
) -> ClientsFor:
    """SDK clients per subscription; with `throttle`, it hears every 429 they are answered."""
    policies: dict[str, Any] = {"per_retry_policies": [throttle]} if throttle is not None else {}
    return ClientCache(
        lambda sub: make_clients(sub, target=target, polling_interval=polling_interval, **policies)
    )


def notify_stage(
    settings: Settings, *, outbox_dir: str | Path | None = None, retry: RetryPolicy | None = None
) -> NotifyStage:
    """Teams and email as the settings route them; with `outbox_dir`, written there instead of sent."""
    notifier = Notifier(settings.notifications, outbox_dir=outbox_dir, retry=retry)
    return NotifyStage(notifier, record_url_template=settings.incident_url_template)


def state_store_from_settings(settings: Settings) -> StateStore:
    """Table Storage: identity-based (STATE_TABLE_ENDPOINT) or by connection string. A value the SDK
    refuses (Settings.from_env catches the usual mistakes first) is a ConfigError naming the setting,
    answered like any other configuration error, never an unhandled ValueError."""
    if settings.table_endpoint:
        try:
            backend = TableBackend.from_endpoint(
                settings.table_endpoint, DefaultAzureCredential(), prefix=settings.table_prefix
            )
        except ValueError as error:
            raise ConfigError(f"STATE_TABLE_ENDPOINT is not a usable table endpoint: {error}") from None
    elif settings.storage_connection_string:
        try:
            backend = TableBackend.from_connection_string(
                settings.storage_connection_string, prefix=settings.table_prefix
            )
        except ValueError as error:  # the SDK's message never repeats the connection string
            raise ConfigError(
                "STATE_STORAGE_CONNECTION / AzureWebJobsStorage is not a usable storage connection "
                f"string: {error}"
            ) from None
    else:
        raise ConfigError("no state storage: set AzureWebJobsStorage or STATE_TABLE_ENDPOINT")
    return StateStore(backend)


def remediation_limits(settings: Settings) -> Limits:
    return Limits(
        max_request_timeout=settings.remediation_max_request_timeout,
        cooldown=timedelta(minutes=settings.remediation_cooldown_minutes),
        max_changes_per_hour=settings.remediation_max_changes_per_hour,
        verify_seconds=settings.remediation_verify_seconds,
        verify_interval=min(10.0, max(0.5, settings.remediation_verify_seconds / 30)),
        max_applied_per_incident=settings.remediation_max_actions_per_incident,
    )


def approval_settings(settings: Settings) -> ApprovalSettings:
    key = settings.approval_signing_key
    return ApprovalSettings(
        key=key.encode("utf-8") if key else None,
        ttl=timedelta(minutes=settings.approval_ttl_minutes),
        base_url=settings.approval_base_url,
    )


def remediator_for(settings: Settings, store: StateStore) -> Remediator:
    """Remediation as the settings configure it, its memory (guards, audit, approvals) in `store`."""
    return Remediator(
        ledger=RemediationLedger.for_store(store),
        setting=settings.remediation,
        limits=remediation_limits(settings),
        approvals=approval_settings(settings),
    )


def approval_desk(
    settings: Settings,
    *,
    store: StateStore,
    clients_for: ClientsFor,
    notify: Notify | None = None,
    dns_servers: Mapping[str, tuple[str, int]] | None = None,
) -> ApprovalDesk:
    """The approval pages' and `appgw-doctor approve`'s desk, on the pipeline's state store."""
    configured_dns = {ip: (host, port) for ip, host, port in settings.dns_server_map}
    return ApprovalDesk(
        remediator_for(settings, store),
        clients_for,
        rediagnose_with(dns_servers or configured_dns or None, settings.dns_resolve_custom or None),
        approvers=settings.approvers,
        notify=notify,
    )


def remediate_stage(
    settings: Settings,
    *,
    store: StateStore,
    clients_for: ClientsFor,
    dns_servers: Mapping[str, tuple[str, int]] | None = None,
    requested: str | None = None,
    requested_actions: frozenset[str] | None = None,
) -> RemediateStage:
    """The guarded remediation stage: its guards' memory and audit in the pipeline's state store."""
    return RemediateStage(
        remediator_for(settings, store),
        clients_for,
        rediagnose_with(dns_servers, settings.dns_resolve_custom or None),
        requested=requested,
        requested_actions=requested_actions,
    )


def build_pipeline(
    settings: Settings,
    *,
    store: StateStore,
    clients_for: ClientsFor,
    notify: Stage,
    remediate: Stage | None = None,
    dns_servers: Mapping[str, tuple[str, int]] | None = None,
    enforce_allow_list: bool = True,
    wait_for_claims: bool = True,
    throttle: ThrottleWatch | None = None,
) -> Pipeline:
    """The pipeline with every stage, as the settings configure it. `throttle`: the ThrottleWatch
    installed on `clients_for`'s clients (the sweep's fleet-wide backoff)."""
    configured_dns = {ip: (host, port) for ip, host, port in settings.dns_server_map}
    dns = dns_servers or configured_dns or None
    if remediate is None:
        remediate = remediate_stage(settings, store=store, clients_for=clients_for, dns_servers=dns)
    closed = remediate.remediator.cancel_for_incident if isinstance(remediate, RemediateStage) else None
    return Pipeline(
        store=store,
        clients_for=clients_for,
        allowed_subscriptions=settings.allowed_subscriptions if enforce_allow_list else None,
        dns_servers=dns,
        resolve_dns=settings.dns_resolve_custom or None,
        lease_ttl=timedelta(seconds=settings.lease_seconds),
        join_window=timedelta(hours=settings.incident_join_hours),
        remediate=remediate,
        notify=notify,
        wait_for_claims=wait_for_claims,
        throttle=throttle,
        sweep_slots=settings.sweep_concurrency,
        sweep_full_every=timedelta(hours=settings.sweep_full_every_hours),
        on_incident_closed=closed,
        change_lookback=timedelta(hours=settings.change_lookback_hours),
    )


def prune_state(store: StateStore, settings: Settings, *, now: datetime | None = None) -> PruneCounts | None:
    """The hourly sweep's housekeeping: prune state older than STATE_RETENTION_DAYS, a bounded amount
    per run. A failure is logged, not raised: the sweep's work is queued anyway; the next hour retries."""
    try:
        counts = store.prune(
            now=now or datetime.now(timezone.utc), retention=timedelta(days=settings.state_retention_days)
        )
    except Exception:
        log.exception("pruning the state failed; the next sweep tries again")
        return None
    log.info("state pruned: %s", counts.to_dict())
    return counts


def pipeline_from_settings(settings: Settings) -> Pipeline:
    """The Functions app's pipeline: Table Storage state, SDK clients for the configured ARM endpoint."""
    target = ArmTarget(settings.arm_endpoint, settings.arm_ca_bundle)
    throttle = ThrottleWatch()
    return build_pipeline(
        settings,
        store=state_store_from_settings(settings),
        clients_for=clients_for_target(
            target, polling_interval=settings.arm_polling_interval, throttle=throttle
        ),
        notify=notify_stage(settings),
        throttle=throttle,
    )


def work_queue_from_settings(settings: Settings, queue_name: str) -> WorkQueue:
    """The Functions app's work queue (the queue bindings' AzureWebJobsStorage account), for messages
    sent with a delay: by connection string, or with the app's identity at the queue endpoint."""
    if settings.work_queue_connection:
        try:
            return WorkQueue.from_connection_string(settings.work_queue_connection, queue_name)
        except ValueError as error:
            raise ConfigError(
                f"AzureWebJobsStorage is not a usable queue connection string: {error}"
            ) from None
    if settings.work_queue_endpoint:
        try:
            return WorkQueue.from_endpoint(settings.work_queue_endpoint, queue_name, DefaultAzureCredential())
        except ValueError as error:
            raise ConfigError(f"the work queue endpoint is not usable: {error}") from None
    raise ConfigError("no work queue: set AzureWebJobsStorage or AzureWebJobsStorage__accountName")
