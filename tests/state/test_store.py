"""StateStore behaviour, identical on Table Storage and SQLite."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from state import CloseReason, DiagnosisRecord, Incident, IncidentStatus, StateStore

T0 = datetime(2026, 11, 23, 10, 30, tzinfo=timezone.utc)
TTL = timedelta(minutes=5)
RG = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network"
GW = f"{RG}/applicationGateways/agw"
GW2 = GW + "2"
NSG = f"{RG}/networkSecurityGroups/nsg"
RT = f"{RG}/routeTables/rt"


def test_lease_is_exclusive_until_released(store: StateStore) -> None:
    first = store.acquire_lease(GW, holder="a", now=T0, ttl=TTL)
    assert first is not None and first.holder == "a"
    assert store.acquire_lease(GW, holder="b", now=T0, ttl=TTL) is None
    assert store.current_lease(GW, now=T0).holder == "a"
    store.release_lease(first)
    assert store.current_lease(GW, now=T0) is None
    assert store.acquire_lease(GW, holder="b", now=T0, ttl=TTL).holder == "b"


def test_leases_of_different_gateways_are_independent(store: StateStore) -> None:
    assert store.acquire_lease(GW, holder="a", now=T0, ttl=TTL) is not None
    assert store.acquire_lease(GW2, holder="b", now=T0, ttl=TTL) is not None


def test_gateway_ids_compare_case_insensitively(store: StateStore) -> None:
    assert store.acquire_lease(GW, holder="a", now=T0, ttl=TTL) is not None
    assert store.acquire_lease(GW.lower(), holder="b", now=T0, ttl=TTL) is None


def test_expired_lease_is_taken_over_and_old_holder_cannot_release_it(store: StateStore) -> None:
    stale = store.acquire_lease(GW, holder="dead", now=T0, ttl=TTL)
    later = T0 + TTL + timedelta(seconds=1)
    assert store.current_lease(GW, now=later) is None
    fresh = store.acquire_lease(GW, holder="alive", now=later, ttl=TTL)
    assert fresh is not None and fresh.etag != stale.etag
    store.release_lease(stale)  # the dead worker wakes up: must not free the new holder's lease
    assert store.current_lease(GW, now=later).holder == "alive"


def test_concurrent_takeover_of_an_expired_lease_has_one_winner(store: StateStore) -> None:
    store.acquire_lease(GW, holder="dead", now=T0, ttl=TTL)
    later = T0 + TTL * 2

    def take(i: int):
        return store.acquire_lease(GW, holder=f"w{i}", now=later, ttl=TTL)

    with ThreadPoolExecutor(8) as pool:
        winners = [lease for lease in pool.map(take, range(16)) if lease is not None]
    assert len(winners) == 1
    assert store.current_lease(GW, now=later).holder == winners[0].holder


def test_concurrent_claims_of_one_delivery_have_one_winner(store: StateStore) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: store.claim_delivery("k", holder=f"w{i}", now=T0, ttl=TTL), range(24))
        )
    assert results.count(True) == 1


def test_settled_delivery_stays_a_duplicate_forever(store: StateStore) -> None:
    assert store.claim_delivery("k", holder="a", now=T0, ttl=TTL)
    store.settle_delivery("k", holder="a", outcome="diagnosed", incident_id="i1")
    assert not store.claim_delivery("k", holder="b", now=T0 + timedelta(days=30), ttl=TTL)
    assert store.delivery("k")["outcome"] == "diagnosed"
    assert store.delivery("k")["incidentId"] == "i1"


def test_unsettled_claim_expires_so_a_redelivery_is_processed(store: StateStore) -> None:
    assert store.claim_delivery("k", holder="a", now=T0, ttl=TTL)
    assert not store.claim_delivery("k", holder="b", now=T0 + TTL / 2, ttl=TTL)
    assert store.claim_delivery("k", holder="b", now=T0 + TTL * 2, ttl=TTL)


def test_abandoned_claim_frees_the_delivery_but_not_a_settled_one(store: StateStore) -> None:
    assert store.claim_delivery("k", holder="a", now=T0, ttl=TTL)
    store.abandon_delivery("k", holder="a")
    assert store.claim_delivery("k", holder="b", now=T0, ttl=TTL)
    store.settle_delivery("k", holder="b", outcome="diagnosed")
    store.abandon_delivery("k", holder="b")
    assert not store.claim_delivery("k", holder="c", now=T0, ttl=TTL)


def _incident(incident_id: str, gateway: str = GW, status=IncidentStatus.OPEN, at=T0) -> Incident:
    return Incident(id=incident_id, gateway_id=gateway, status=status, opened_at=at, updated_at=at)


def test_open_incident_is_the_newest_not_closed_one(store: StateStore) -> None:
    assert store.open_incident(GW) is None
    store.create_incident(_incident("old", status=IncidentStatus.CLOSED))
    store.create_incident(_incident("new", at=T0 + timedelta(minutes=1)))
    store.create_incident(_incident("other-gw", gateway=GW2))
    assert store.open_incident(GW).id == "new"
    closed = store.close_incident(store.open_incident(GW), now=T0 + timedelta(minutes=2))
    assert closed.status is IncidentStatus.CLOSED and closed.closed_at is not None
    assert store.open_incident(GW) is None
    assert store.get_incident(GW, "new").status is IncidentStatus.CLOSED
    assert [i.id for i in store.list_incidents(GW)] == ["old", "new"]
    assert len(store.list_incidents()) == 3


def test_incident_round_trips_its_report(store: StateStore) -> None:
    report = {"findings": [{"code": "PROBE_TIMEOUT", "evidence": {"ms": 31000}}], "text": "é" * 70_000}
    store.create_incident(_incident("i1"))
    store.save_incident(Incident(**{**_incident("i1").__dict__, "report": report}))
    assert store.get_incident(GW, "i1").report == report


def test_attached_alerts_are_idempotent_per_key(store: StateStore) -> None:
    store.attach_alert("i1", key="a1", alert={"alertId": "a1"}, at=T0)
    store.attach_alert("i1", key="a1", alert={"alertId": "a1"}, at=T0)
    store.attach_alert("i1", key="a2", alert={"alertId": "a2"}, at=T0 + timedelta(seconds=1))
    assert store.incident_alerts("i1") == [{"alertId": "a1"}, {"alertId": "a2"}]
    assert store.incident_alerts("i2") == []
    store.attach_alert("i2", key="a3", alert={"alertId": "a3"}, at=T0 + timedelta(seconds=2))
    store.copy_alerts("i1", "i2")
    assert store.incident_alerts("i2") == [{"alertId": "a1"}, {"alertId": "a2"}, {"alertId": "a3"}]


def _diagnosis(record_id: str, at: datetime, watched: list[str], gateway: str = GW) -> DiagnosisRecord:
    return DiagnosisRecord(
        id=record_id,
        gateway_id=gateway,
        trigger="alert",
        started_at=at,
        finished_at=at,
        findings=[{"code": "PROBE_TIMEOUT", "resource": "/x"}],
        watched_resources=watched,
    )


def test_last_diagnosis_and_log(store: StateStore) -> None:
    assert store.last_diagnosis(GW) is None
    store.record_diagnosis(_diagnosis("d1", T0, [NSG]))
    store.record_diagnosis(_diagnosis("d2", T0 + timedelta(minutes=1), [NSG]))
    store.record_diagnosis(_diagnosis("d3", T0, [], gateway=GW2))
    assert store.last_diagnosis(GW).id == "d2"
    assert [r.id for r in store.list_diagnoses(GW)] == ["d1", "d2"]
    assert len(store.list_diagnoses()) == 3
    assert store.last_diagnosis(GW).finding_keys == {("PROBE_TIMEOUT", "/x")}


def test_watch_index_follows_the_last_diagnosis(store: StateStore) -> None:
    store.record_diagnosis(_diagnosis("d1", T0, [NSG, RT]))
    store.record_diagnosis(_diagnosis("d2", T0, [NSG], gateway=GW2))
    assert store.gateways_watching(NSG.upper()) == sorted([GW, GW2])
    assert store.gateways_watching(RT) == [GW]
    store.record_diagnosis(_diagnosis("d3", T0 + timedelta(minutes=1), [NSG]))  # route table detached
    assert store.gateways_watching(RT) == []
    assert store.gateways_watching(NSG) == sorted([GW, GW2])


def test_renewing_a_lease_extends_it_only_while_it_is_ours(store: StateStore) -> None:
    lease = store.acquire_lease(GW, holder="a", now=T0, ttl=TTL)
    renewed = store.renew_lease(lease, now=T0 + timedelta(minutes=4), ttl=TTL)
    assert renewed is not None and renewed.expires_at == T0 + timedelta(minutes=9)
    assert store.current_lease(GW, now=T0 + timedelta(minutes=8)).holder == "a"
    assert store.renew_lease(lease, now=T0, ttl=TTL) is None  # the old ETag is stale
    taken = store.acquire_lease(GW, holder="b", now=T0 + timedelta(minutes=20), ttl=TTL)
    assert taken is not None
    assert store.renew_lease(renewed, now=T0 + timedelta(minutes=20), ttl=TTL) is None
    assert store.current_lease(GW, now=T0 + timedelta(minutes=21)).holder == "b"


def test_incident_saves_are_conditional_on_the_etag_read(store: StateStore) -> None:
    import pytest

    from state.backend import RecordChanged

    created = store.create_incident(_incident("i1"))
    mine = store.get_incident(GW, "i1")
    assert created.etag and mine.etag
    theirs = store.close_incident(mine, now=T0 + timedelta(minutes=1), reason=CloseReason.SUPERSEDED)
    with pytest.raises(RecordChanged):
        store.save_incident(Incident(**{**created.__dict__, "status": IncidentStatus.OPEN}))
    assert store.get_incident(GW, "i1").close_reason == "superseded" == theirs.close_reason
    store.save_incident(Incident(**{**theirs.__dict__, "report": {"x": 1}}))  # with the current ETag


def test_a_record_too_large_is_refused_on_every_backend_before_writing(store: StateStore) -> None:
    import pytest

    from state.backend import StateError

    with pytest.raises(StateError):
        store.create_incident(Incident(**{**_incident("big").__dict__, "report": {"text": "x" * 500_000}}))
    assert store.get_incident(GW, "big") is None


def test_diagnosis_update_keeps_a_newer_last_diagnosis(store: StateStore) -> None:
    first = _diagnosis("d1", T0, [NSG])
    store.record_diagnosis(first)
    store.record_diagnosis(_diagnosis("d2", T0 + timedelta(minutes=1), [NSG]))
    store.update_diagnosis(DiagnosisRecord(**{**first.__dict__, "stages": [{"name": "notify"}]}))
    assert store.last_diagnosis(GW).id == "d2"
    assert store.list_diagnoses(GW)[0].stages == [{"name": "notify"}]
