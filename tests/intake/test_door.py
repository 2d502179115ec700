"""Validate at the door: what intake accepts can be a state key, a queue message, a log field and a
header without failing later for its shape; what it refuses is refused with a 4xx naming the field."""

from __future__ import annotations

import copy
import json
import logging
import math
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import event as tally
from hypothesis import given, settings
from hypothesis import strategies as st

from appgw_doctor.pipeline import Pipeline, WorkItem
from core.settings import DEFAULT_MAX_ALERT_TARGETS
from intake.alerts import Alert, check_alert, parse_alert_body, parse_alert_document
from intake.errors import IntakeError
from intake.events import RESOURCE_WRITE_SUCCESS, ResourceChange, check_change, parse_resource_write
from intake.text import shown, text_problem
from state.store import digest

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourcegroups/rg-contoso-web"
GW = f"{RG}/providers/microsoft.network/applicationgateways/agw-contoso"
NSG = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/nsg"
AT = datetime(2026, 11, 23, 10, 40, tzinfo=timezone.utc)
WRITE = "Microsoft.Network/networkSecurityGroups/write"


def sample() -> dict:
    return json.loads((ROOT / "scenarios/healthy/alert.json").read_text())


def with_essentials(**fields) -> dict:
    document = sample()
    document["data"]["essentials"].update(fields)
    return document


def with_criterion(**fields) -> dict:
    document = sample()
    document["data"]["alertContext"]["condition"]["allOf"][0].update(fields)
    return document


def refused(document, **options) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        parse_alert_body(json.dumps(document).encode(), allowed_subscriptions=[SUB], **options)
    return caught.value


def gateways(count: int) -> list[str]:
    return [GW.replace("agw-contoso", f"agw-{number:04d}") for number in range(count)]


# --- text fields ---


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("alertId", "\ud800"),  # a lone surrogate: cannot be encoded, hashed or stored
        ("alertId", "id-\udfff-x"),
        ("alertId", "id\r\nincident=forged outcome=closed"),  # a second log line
        ("alertId", "id\x00"),
        ("alertId", "id\x1b[31m"),
        ("alertId", "id\u202e"),  # bidi override
        ("alertId", "id\u2028next"),  # line separator
        ("alertId", "a" * 1025),
        ("alertRule", "rule\nBcc: everyone@example.com"),  # becomes a mail subject
        ("alertRule", "\ud83d"),
        ("alertRule", "r" * 1025),
        ("severity", "Sev1\r\n"),
        ("severity", "S" * 65),
        ("description", "text \ud800"),
        ("description", "text \x07 bell"),
    ],
)
def test_unusable_text_is_refused_naming_the_field(field, value) -> None:
    error = refused(with_essentials(**{field: value}))
    assert (error.status, error.code) == (400, "invalid_field")
    assert f"data.essentials.{field}" in error.message
    assert error.message.isascii() and error.message.isprintable()  # nothing echoed raw


@pytest.mark.parametrize(
    ("field", "value"),
    [("metricName", "Response\nStatus"), ("metricName", "\ud800"), ("operator", "Greater\x00Than")],
)
def test_unusable_metric_criterion_text_is_refused(field, value) -> None:
    error = refused(with_criterion(**{field: value}))
    assert (error.status, error.code) == (400, "invalid_field")
    assert f"allOf[0].{field}" in error.message


def test_a_description_may_span_lines_and_is_cut_to_1024_characters() -> None:
    (alert,) = parse_alert_document(
        with_essentials(description="first line\r\n\tsecond 😀 é" + "x" * 2000), allowed_subscriptions=[SUB]
    )
    assert alert.description.startswith("first line\r\n\tsecond 😀 é") and len(alert.description) == 1024


def test_text_that_is_fine_is_kept_as_written() -> None:
    (alert,) = parse_alert_document(
        with_essentials(alertId="ünïcödé-😀-" + "a" * 1000, alertRule="règle 5xx", severity="Sev0"),
        allowed_subscriptions=[SUB],
    )
    assert alert.alert_id.startswith("ünïcödé-😀-") and alert.alert_rule == "règle 5xx"


@pytest.mark.parametrize(
    "target",
    [
        GW.replace("agw-contoso", "agw-\ud800"),
        GW + "\r\n",
        GW.replace("agw-contoso", "agw-" + "x" * 1100),
    ],
)
def test_targets_with_unusable_text_are_not_gateways(target) -> None:
    error = refused(with_essentials(alertTargetIDs=[target]))
    assert (error.status, error.code) == (422, "not_application_gateway")
    assert error.message.isascii() and error.message.isprintable() and len(error.message) < 400


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400])
def test_a_metric_value_that_is_not_a_finite_number_is_dropped(value) -> None:
    body = json.dumps(with_criterion(metricValue=0)).replace('"metricValue": 0', f'"metricValue": {value}')
    (alert,) = parse_alert_body(body.encode(), allowed_subscriptions=[SUB])
    assert alert.metric is not None and alert.metric.metric_value is None
    assert WorkItem.from_message(Pipeline.alert_items([alert])[0].to_message()).alert == alert


# --- times ---


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00",
     "0001-01-01T00:00:00-14:00", "2026-11-23T10:27:00\ud800", "2026-11-23\x00", "2026-11-23T10:27:00Z\r\nX"],
)  # fmt: skip
def test_times_out_of_range_or_malformed_are_refused(value) -> None:
    error = refused(with_essentials(firedDateTime=value))
    assert (error.status, error.code) == (400, "invalid_field")
    assert "firedDateTime" in error.message and error.message.isascii() and error.message.isprintable()


def test_times_in_range_are_accepted_in_utc() -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    (alert,) = parse_alert_document(
        with_essentials(
            firedDateTime="2000-01-01T00:00:00Z", resolvedDateTime=(now + timedelta(days=300)).isoformat()
        ),
        allowed_subscriptions=[SUB],
    )
    assert alert.fired_at == datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert alert.resolved_at == now + timedelta(days=300)


# --- how many gateways one alert may name ---


def test_an_alert_naming_more_gateways_than_the_limit_is_refused_naming_the_limit() -> None:
    error = refused(with_essentials(alertTargetIDs=gateways(DEFAULT_MAX_ALERT_TARGETS + 1)))
    assert (error.status, error.code) == (422, "too_many_targets")
    assert f"limit is {DEFAULT_MAX_ALERT_TARGETS}" in error.message and "MAX_ALERT_TARGETS" in error.message
    alerts = parse_alert_document(
        with_essentials(alertTargetIDs=gateways(DEFAULT_MAX_ALERT_TARGETS)), allowed_subscriptions=[SUB]
    )
    assert len(alerts) == DEFAULT_MAX_ALERT_TARGETS


def test_the_limit_is_the_callers() -> None:
    assert refused(with_essentials(alertTargetIDs=gateways(3)), max_targets=2).code == "too_many_targets"
    assert len(parse_alert_document(with_essentials(alertTargetIDs=gateways(3)),
                                    allowed_subscriptions=[SUB], max_targets=3)) == 3  # fmt: skip


def test_a_megabyte_alert_naming_thousands_of_gateways_is_refused() -> None:
    document = with_essentials(alertTargetIDs=gateways(5000))
    body = json.dumps(document).encode()
    assert len(body) < 1024 * 1024
    assert refused(document).code == "too_many_targets"


def test_the_same_gateway_spelled_twice_is_one_alert() -> None:
    shouted = GW.upper().replace("/SUBSCRIPTIONS", "/subscriptions")
    alerts = parse_alert_document(with_essentials(alertTargetIDs=[GW, shouted]), allowed_subscriptions=[SUB])
    assert [a.gateway_id for a in alerts] == [GW]


# --- Event Grid envelopes ---


def event(**overrides):
    fields = {
        "event_id": "e1",
        "event_type": RESOURCE_WRITE_SUCCESS,
        "subject": NSG,
        "topic": f"/subscriptions/{SUB}/resourceGroups/rg-contoso-web",
        "data": {"operationName": "Microsoft.Network/networkSecurityGroups/write", "resourceUri": NSG},
        "event_time": AT,
    }
    return parse_resource_write(**{**fields, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [
        {"event_id": "\ud800"},
        {"event_id": "e1\r\nchange forged"},
        {"event_id": ""},
        {"event_id": "e" * 1025},
        {"event_id": None},
        {"subject": NSG + "\n"},
        {"topic": "/subscriptions/\x00"},
        {"event_time": datetime(1, 1, 1, tzinfo=timezone.utc)},
        {"event_time": datetime(9999, 12, 31, tzinfo=timezone.utc)},
        {"data": {"operationName": WRITE, "resourceUri": NSG + "\ud800"}},
        {"data": {"operationName": WRITE, "resourceUri": NSG + "\r\n"}},
    ],
)  # fmt: skip
def test_events_with_an_unusable_envelope_are_refused(overrides) -> None:
    with pytest.raises(IntakeError) as caught:
        event(**overrides)
    assert (caught.value.status, caught.value.code) == (400, "invalid_event")
    assert caught.value.message.isascii() and caught.value.message.isprintable()


def test_an_event_time_without_a_zone_is_utc() -> None:
    change = event(event_time=datetime(2026, 11, 23, 10, 40))
    assert change is not None and change.event_time == AT


def test_changes_intake_accepts_survive_the_queue() -> None:
    change = event()
    assert change is not None
    check_change(change)
    item = WorkItem(kind="change", gateway_id=GW, change=change)
    assert WorkItem.from_message(item.to_message()) == item


# --- the queue message: read back through the same rules ---


def message(**alert_fields) -> str:
    (alert,) = parse_alert_document(sample(), allowed_subscriptions=[SUB])
    data = json.loads(Pipeline.alert_items([alert])[0].to_message())
    data["alert"].update(alert_fields)
    return json.dumps(data)


@pytest.mark.parametrize(
    "fields",
    [
        {"alertId": "\ud800"},
        {"alertId": "a\r\nb"},
        {"alertRule": "\x00"},
        {"firedDateTime": "0001-01-01T00:00:00+00:00"},
        {"metric": {"metricName": "m", "metricValue": float("nan")}},
        {"gatewayId": GW + "\ud800"},
        {"signalType": "Activity Log"},
        {"description": 42},
    ],
)
def test_a_message_intake_would_have_refused_is_not_a_work_item(fields) -> None:
    with pytest.raises(ValueError, match="not a work item message"):
        WorkItem.from_message(message(**fields))


def test_a_change_message_with_an_unusable_id_is_not_a_work_item() -> None:
    change = ResourceChange(event_id="e\r\n", resource_id=NSG, operation="x", event_time=AT)
    text = WorkItem(kind="change", gateway_id=GW, change=change).to_message()
    with pytest.raises(ValueError, match="not a work item message"):
        WorkItem.from_message(text)


# --- property: whatever the parser accepts survives the queue and can be a key, a log field, a header ---

_SPICY = "\ud800\udfff\r\n\x00\x1b\t\u202e\u2028\u200b\ufeffé😀 /|:"
# Mostly text intake should accept (any Unicode but control/format characters and surrogates:
# astral characters, combining marks, private use, unassigned code points), sometimes anything at all.
clean = st.text(alphabet=st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1)
texts = st.one_of(
    clean,
    clean,
    clean,
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),  # surrogates included
    st.text(alphabet=st.sampled_from(_SPICY + "abcXYZ019-"), max_size=40),
    st.text(max_size=1100),
)
times = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1)).map(
        lambda d: d.isoformat() + "Z"
    ),
    st.datetimes(
        min_value=datetime(2000, 1, 2), max_value=datetime(2026, 1, 1), timezones=st.timezones()
    ).map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat()),
    texts,
)
numbers = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5), st.booleans())


SAMPLE = sample()
CRITERION = "criterion."
FIELD_VALUES = {
    "alertId": texts,
    "alertRule": st.one_of(texts, st.none(), st.integers()),
    "severity": st.one_of(texts, st.sampled_from(["Sev0", "Sev4"]), st.none()),
    "description": st.one_of(texts, st.none()),
    "monitorCondition": st.sampled_from(["Fired", "Resolved", "fired", "Fired\n"]),
    "firedDateTime": st.one_of(st.none(), times),
    "resolvedDateTime": st.one_of(st.none(), times),
    "alertTargetIDs": st.lists(
        st.one_of(st.just(GW), texts.map(lambda t: GW.replace("agw-contoso", "agw-" + t))),
        min_size=1,
        max_size=4,
    ),
    CRITERION + "metricName": texts,
    CRITERION + "operator": st.one_of(texts, numbers),
    CRITERION + "threshold": numbers,
    CRITERION + "metricValue": numbers,
}


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_whatever_the_parser_accepts_survives_the_queue_and_is_a_safe_key_and_log_field(data) -> None:
    """A valid alert with up to four fields replaced (by Unicode of every kind, lone surrogates,
    control characters, long strings, times of any year, odd numbers): refused with a 4xx, or usable."""
    fields = data.draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=4, unique=True))
    document = copy.deepcopy(SAMPLE)
    essentials = document["data"]["essentials"]
    criterion = document["data"]["alertContext"]["condition"]["allOf"][0]
    for field in fields:
        value = data.draw(FIELD_VALUES[field], label=field)
        if field.startswith(CRITERION):
            criterion[field.removeprefix(CRITERION)] = value
        else:
            essentials[field] = value
    body = json.dumps(document).encode()  # ensure_ascii: a lone surrogate travels as \\ud800, as it would
    try:
        alerts = parse_alert_body(body, allowed_subscriptions=[SUB])
    except IntakeError as error:
        tally(f"refused: {error.code}")
        assert 400 <= error.status < 500
        assert error.message.isprintable() and "\n" not in error.message
        error.message.encode("utf-8")
        return
    tally("accepted")
    for item in Pipeline.alert_items(alerts):
        alert = item.alert
        assert alert is not None
        check_alert(alert)
        # the queue message round trip: the host encodes it as UTF-8, the worker reads it back
        text = item.to_message()
        again = WorkItem.from_message(text.encode("utf-8").decode("utf-8"))
        assert again == item and again.dedupe_key == item.dedupe_key
        assert again.alert == alert
        if alert.metric and alert.metric.metric_value is not None:
            assert math.isfinite(alert.metric.metric_value)
        # a state key: hashed as UTF-8
        digest(item.dedupe_key)
        digest(item.gateway_id)
        json.dumps(alert.to_dict(), ensure_ascii=False).encode("utf-8")
        # one-line fields: logged as one line, usable as a mail or HTTP header value
        for field in (item.dedupe_key, alert.alert_id, alert.alert_rule, alert.severity, alert.gateway_id):
            assert text_problem(field, max_length=4096) is None
            line = logging.Formatter("alert accepted: %(message)s").format(
                logging.LogRecord("intake", logging.INFO, __file__, 1, "%s", (field,), None)
            )
            assert len(line.splitlines()) <= 1
            line.encode("utf-8")
        subject = EmailMessage()  # a mail header refuses CR and LF (header injection)
        subject["Subject"] = f"[{alert.severity}] {alert.alert_rule} on {alert.gateway_id}"
        subject.as_bytes()
        assert text_problem(alert.description, max_length=1024, multiline=True) is None
        assert alert.description.encode("utf-8") is not None
        if alert.fired_at is not None:
            assert datetime(2000, 1, 1, tzinfo=timezone.utc) <= alert.fired_at
            alert.fired_at - timedelta(days=2)  # the diagnosis' arithmetic does not overflow


def test_shown_is_ascii_bounded_and_one_line() -> None:
    text = shown("a\r\n\ud800" + "é" * 500, 20)
    assert text.isascii() and text.isprintable() and text.endswith("...")


def test_every_scenario_alert_passes_the_queue_checks() -> None:
    for path in sorted(ROOT.glob("scenarios/*/alert.json")):
        for alert in parse_alert_body(path.read_bytes(), allowed_subscriptions=None):
            check_alert(alert)
            assert isinstance(alert, Alert)
