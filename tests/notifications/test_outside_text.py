"""Outside text is text: whatever an alert, Azure or a diagnosis put in a field, the card and the email
show it as typed, never as markup, a link or another line, and building them never fails.

The property tests build an incident and a resolution from hostile strings in every field that comes
from outside, then check each rendering as its reader reads it:

- the Teams card: every field Teams reads as markdown (`Fact.title`, `Fact.value`, `fallbackText`,
  a TextBlock's text) has each markdown character backslash-escaped and no URL or `www.` left to
  autolink; everything else is a TextRun (never markdown in Teams) on one line. The card's skeleton
  (its elements, their types and options) is the same as for a twin message with plain text in the
  same fields: outside text adds no element.
- the email: the HTML part has exactly the tags and attributes of the twin (no tag from the input),
  the plain-text part the same lines (no forged line), the Subject no CR/LF and a bounded length.
"""

from __future__ import annotations

import email
import html
import json
import re
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from core.arm_ids import ArmId
from model.changes import SOURCES, PathChange
from model.findings import CheckResult, CheckStatus, Finding, Fix, Severity
from model.remediation import ACTION_STATUSES, ActionResult, Change
from notifications.bounds import LINK_MAX
from notifications.content import (
    ChangeFacts,
    IncidentMessage,
    build_message,
    build_resolution_message,
)
from notifications.email import build_email
from notifications.teams import PAYLOAD_BUDGET, build_payload, payload_size, serialize
from notifications.text import markdown, one_line

SUB = "00000000-0000-0000-0000-000000000001"
FIRED = datetime(2026, 11, 23, 10, 27, tzinfo=UTC)
SUBJECT_MAX = 250
URL_MAX = 2_048  # notifications.teams drops a longer link
MARKDOWN_SPECIAL = set("\\`*_[]()<>#+-!|~&")
LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

# What an attacker probe sends: markdown links, emphasis, HTML, header and line injection, controls,
# lone surrogates, autolinks, and strings far longer than any field allows.
HOSTILE = [
    "[click](https://evil.example/login)",
    "![x](https://evil.example/p.png)",
    "<https://evil.example>",
    "https://evil.example/a_b",
    "www.evil.example",
    "**bold** __strong__ *it* _it_ ~~gone~~ `code`",
    "# Heading",
    "- item",
    "+ item",
    "1. first",
    "2) second",
    "> quoted",
    "| a | b |",
    "---",
    "<script>alert(1)</script>",
    "<b>bold</b><a href='https://evil.example'>x</a>",
    "<at>on-call</at>",
    '"><img src=x onerror=alert(1)>',
    "&lt;b&gt; &amp;",
    "\\",
    "trailing\\",
    "\r\nSubject: forged\r\n",
    "=?utf-8?q?a=0D=0ABcc:_attacker@evil.example?=",
    "=?utf-8?b?DQpCY2M6IGF0dGFja2VyQGV2aWwuZXhhbXBsZQ==?=",
    "\nFORGED LINE",
    "\rFORGED",
    "\x00\x07\x1b[31m\x7f\x85",
    "\u2028\u2029",
    "\u202eoverride\u202c",
    "\ud800",
    "\udfff",
    "\ud83d\ude00",
    "{{DATE(2026-01-01T00:00:00Z, SHORT)}}",
    "x" * 60_000,
    "[a](https://e.example)" * 3_000,
]
piece = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.text(st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp", "Po", "Ps", "Pe", "Sm"]), max_size=12),
)
hostile = st.lists(piece, max_size=4).map("".join)
name = hostile.filter(lambda text: "/" not in text)


def arm_id(resource_group: str, gateway: str, child: str | None = None) -> str:
    resource = f"/subscriptions/{SUB}/resourceGroups/{resource_group}/providers/Microsoft.Network"
    resource += f"/applicationGateways/{gateway}"
    return resource + (f"/probes/{child}" if child is not None else "")


def parses(resource_id: str) -> bool:
    try:
        ArmId.parse(resource_id)
    except ValueError:
        return False
    return True


@st.composite
def outside_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Every field of a message that comes from outside, each a hostile string."""
    fields: dict[str, Any] = {
        key: draw(hostile)
        for key in (
            "rule",
            "severity",
            "fired",
            "condition",
            "metric",
            "metric_value",
            "operator",
            "threshold",
            "operation",
            "event_time",
            "diagnosis_error",
            "resolved_at",
        )
    }
    fields["incident_id"] = draw(hostile)
    fields["resource_group"] = draw(name.filter(lambda t: t.strip()))
    fields["gateway"] = draw(name.filter(lambda t: t.strip()))
    assume(parses(arm_id(fields["resource_group"], fields["gateway"])))
    fields["findings"] = [
        {key: draw(hostile) for key in ("code", "title", "evidence_key", "evidence", "fix", "command")}
        | {"child": draw(name), "changes": draw(st.lists(path_change(), max_size=5))}
        for _ in range(draw(st.integers(0, 3)))
    ]
    # Who made the triggering change (an event's claims). Intake keeps none that is only whitespace; one
    # would show as no caller, its twin `x` as one: a different layout, not a different reading.
    fields["caller"] = draw(hostile.filter(lambda text: not text or " ".join(text.split())))
    fields["checks"] = [
        {"name": draw(hostile), "reason": draw(hostile)} for _ in range(draw(st.integers(0, 3)))
    ]
    fields["actions"] = [
        {
            key: draw(hostile)
            for key in (
                "action",
                "finding",
                "resource",
                "reason",
                "summary",
                "command",
                "undo",
                "verification",
            )
        }
        | {"before": {"requestTimeout": draw(hostile)}, "after": {draw(name): draw(hostile)}}
        | {"changed": draw(st.booleans())}
        for _ in range(draw(st.integers(0, 3)))
    ]
    fields["remediation_mode"] = draw(hostile)
    fields["remediation_note"] = draw(hostile)
    fields["failed"] = draw(st.booleans())
    fields["trigger"] = draw(st.sampled_from(["alert", "change", "sweep"]))
    fields["statuses"] = [draw(st.sampled_from(ACTION_STATUSES)) for _ in fields["actions"]]
    fields["check_statuses"] = [
        draw(st.sampled_from([CheckStatus.ERROR, CheckStatus.SKIPPED, CheckStatus.PASSED]))
        for _ in fields["checks"]
    ]
    return fields


@st.composite
def path_change(draw: st.DrawFn) -> dict[str, Any]:
    """A change on a finding's path (model.changes.PathChange) as the Activity Log could claim it."""
    return {key: draw(hostile) for key in ("summary", "caller", "client", "undo", "status", "operation")} | {
        "source": draw(st.sampled_from(SOURCES)),
        "minutes": draw(st.integers(-600, 60 * 24 * 30)),
    }


KEEP = ("statuses", "check_statuses", "trigger", "source")  # choices, not text


def plain_twin(value: Any) -> Any:
    """The same fields with every non-empty string replaced by `x`: what the layout looks like when
    nothing in the input is markup."""
    if isinstance(value, str):
        return "x" if value else ""
    if isinstance(value, list):
        return [plain_twin(item) for item in value]
    if isinstance(value, dict):
        return {key: item if key in KEEP else plain_twin(item) for key, item in value.items()}
    return value


def alert_payload(fields: dict[str, Any]) -> dict[str, Any]:
    """The `data` of a common-alert-schema payload carrying the fields."""
    return {
        "essentials": {
            "alertRule": fields["rule"],
            "severity": fields["severity"],
            "firedDateTime": fields["fired"],
            "monitorCondition": fields["condition"],
            "alertTargetIDs": [arm_id(fields["resource_group"], fields["gateway"])],
        },
        "alertContext": {
            "condition": {
                "allOf": [
                    {
                        "metricName": fields["metric"],
                        "metricValue": fields["metric_value"],
                        "operator": fields["operator"],
                        "threshold": fields["threshold"],
                    }
                ]
            }
        },
    }


def incident(fields: dict[str, Any]) -> IncidentMessage:
    gateway_id = arm_id(fields["resource_group"], fields["gateway"])
    findings = [
        Finding(
            code=f"C{index}{f['code']}",  # findings are sorted by code: the twin's keep their order
            severity=Severity.CRITICAL,
            title=f["title"],
            resource=arm_id(fields["resource_group"], fields["gateway"], f["child"]),
            evidence={f["evidence_key"]: f["evidence"], "servers": [f["evidence"], "10.0.0.4"]},
            fix=Fix(summary=f["fix"], command=f["command"] or None),
            changes=tuple(
                PathChange(
                    FIRED - timedelta(minutes=c["minutes"]),
                    arm_id(fields["resource_group"], fields["gateway"], f["child"]),
                    c["operation"],
                    c["caller"] or None,
                    c["status"],
                    c["source"],
                    c["summary"],
                    since=FIRED - timedelta(days=1),
                    undo=c["undo"] or None,
                    client=c["client"] or None,
                )
                for c in f["changes"]
            ),
        )
        for index, f in enumerate(fields["findings"])
    ]
    checks = [
        CheckResult(c["name"], status, c["reason"])
        for c, status in zip(fields["checks"], fields["check_statuses"], strict=True)
    ]
    actions = [
        ActionResult(
            a["action"],
            a["finding"],
            a["resource"],
            status,
            a["reason"],
            change=Change(a["resource"], a["before"], a["after"], a["summary"]) if a["changed"] else None,
            command=a["command"] or None,
            undo=a["undo"] or None,
            verification=a["verification"] or None,
        )
        for a, status in zip(fields["actions"], fields["statuses"], strict=True)
    ]
    change = None
    if fields["trigger"] == "change":
        change = ChangeFacts(
            arm_id(fields["resource_group"], fields["gateway"], fields["findings"][0]["child"])
            if fields["findings"]
            else fields["operation"],
            fields["operation"],
            fields["event_time"] or None,
            caller=fields["caller"] or None,
        )
    return build_message(
        gateway_id,
        findings=findings,
        incident_id=fields["incident_id"] or None,
        diagnosis_id="diagnosis-1",
        checks=checks,
        alert=alert_payload(fields) if fields["trigger"] == "alert" else None,
        change=change,
        diagnosis_error=fields["diagnosis_error"] if fields["failed"] else None,
        actions=actions,
        remediation_mode=fields["remediation_mode"] or None,
        remediation_note=fields["remediation_note"] or None,
        record_url="https://records.example/incidents/1",
        checked_at=FIRED,
    )


def resolution(fields: dict[str, Any]) -> IncidentMessage:
    return build_resolution_message(
        arm_id(fields["resource_group"], fields["gateway"]),
        incident_id=fields["incident_id"] or "inc-1",
        incident_level=Severity.CRITICAL,
        alert=alert_payload(fields),
        resolved_at=fields["resolved_at"] or None,
    )


# --- the card -------------------------------------------------------------------------------------


def card_texts(node: Any) -> list[tuple[str, str]]:
    """(how Teams reads it, text) for every piece of text in a card: `markdown` for TextBlock text,
    fact titles and values and the fallback text; `plain` for TextRuns; `action` for link titles."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "TextBlock":
            found.append(("markdown", node["text"]))
        elif kind == "TextRun":
            found.append(("plain", node["text"]))
        elif kind == "FactSet":
            for fact in node["facts"]:
                found += [("markdown", fact["title"]), ("markdown", fact["value"])]
        elif kind == "Action.OpenUrl":
            found.append(("action", node["title"]))
        if "fallbackText" in node:
            found.append(("markdown", node["fallbackText"]))
        for key, value in node.items():
            if key != "facts":
                found += card_texts(value)
    elif isinstance(node, list):
        for item in node:
            found += card_texts(item)
    return found


def assert_inert_markdown(text: str) -> None:
    """Nothing in `text` means anything to a markdown renderer: each special character is escaped, no
    URL or `www.` is left for autolinking, and it is one line."""
    assert not LINE_BREAKING.search(text), text
    position = 0
    while position < len(text):
        char = text[position]
        if char == "\\":
            assert position + 1 < len(text) and text[position + 1] in MARKDOWN_SPECIAL | {"."}, text
            position += 2
            continue
        assert char not in MARKDOWN_SPECIAL, f"unescaped {char!r} in {text!r}"
        position += 1
    assert "://" not in text and "www." not in text.lower(), text
    assert not re.match(r"\s*\d+[.)]", text), text  # no ordered-list marker


def skeleton(node: Any) -> Any:
    """The card with its texts blanked: elements, their types and options."""
    if isinstance(node, dict):
        return {
            key: "…" if key in ("text", "title", "value", "fallbackText", "url") else skeleton(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [skeleton(item) for item in node]
    return node


def check_card(message: IncidentMessage, twin: IncidentMessage, card_validator) -> None:
    payload = build_payload(message)
    body = serialize(payload)  # what is posted: must encode
    assert json.loads(body) == payload and payload_size(payload) <= PAYLOAD_BUDGET
    card = payload["attachments"][0]["content"]
    card_validator.validate(card)
    texts = card_texts(card)
    assert texts and {kind for kind, _ in texts} <= {"markdown", "plain", "action"}
    for kind, text in texts:
        if kind == "markdown":
            assert_inert_markdown(text)
        else:
            assert not LINE_BREAKING.search(text), text
    # The bot's own links only, percent-encoded; one too long for Teams is left out, not cut.
    links = [url for _, url in message.links() if len(url) <= URL_MAX]
    assert [a["url"] for a in card.get("actions", [])] == links
    assert all(re.fullmatch(r"[\x21-\x7e]+", url) for url in links)
    twin_card = build_payload(twin)["attachments"][0]["content"]
    card.pop("actions", None), twin_card.pop("actions", None)  # compared above
    assert skeleton(card) == skeleton(twin_card)


# --- the email ------------------------------------------------------------------------------------


class Tags(HTMLParser):
    """Every tag and its attribute names, in order; comments and processing instructions too."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.hrefs: list[str] = []
        self.other: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(name for name, _ in attrs)))
        self.hrefs += [value or "" for name, value in attrs if name == "href"]

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(("/" + tag, ()))

    def handle_comment(self, data: str) -> None:
        self.other.append("comment")

    def handle_pi(self, data: str) -> None:
        self.other.append("pi")


HEADERS = {
    "subject", "from", "to", "date", "message-id", "in-reply-to", "references", "x-appgw-doctor-incident",
    "x-appgw-doctor-diagnosis", "mime-version", "content-type", "content-transfer-encoding",
}  # fmt: skip


def email_parts(message: IncidentMessage) -> tuple[email.message.EmailMessage, str, Tags]:
    built = build_email(message, sender="doctor@contoso.com", recipients=["oncall@contoso.com"])
    subject = built["Subject"]
    assert "\r" not in subject and "\n" not in subject and len(subject) <= SUBJECT_MAX
    raw = built.as_bytes()  # what is sent: must encode
    # Every header line is one of ours, or the folded continuation of one.
    for line in raw.split(b"\n\n", 1)[0].split(b"\n"):
        assert line[:1] in (b" ", b"\t") or line.split(b":", 1)[0].decode().lower() in HEADERS, line
    parsed = email.message_from_bytes(raw, policy=default_policy)
    plain = parsed.get_body(preferencelist=("plain",)).get_content()
    tags = Tags()
    tags.feed(parsed.get_body(preferencelist=("html",)).get_content())
    tags.close()
    return parsed, plain, tags


def check_email(message: IncidentMessage, twin: IncidentMessage) -> None:
    parsed, plain, tags = email_parts(message)
    _, twin_plain, twin_tags = email_parts(twin)
    assert {name.lower() for name in parsed.keys()} <= HEADERS
    for name, value in parsed.items():
        assert "\r" not in value and "\n" not in value, name

    # The same structure, links aside (a link longer than LINK_MAX is left out, not cut).
    def structure(found: Tags) -> list[tuple[str, tuple[str, ...]]]:
        return [tag for tag in found.tags if tag[0] not in ("a", "/a")]

    assert structure(tags) == structure(twin_tags) and tags.other == []
    assert tags.hrefs == [url for _, url in message.links() if len(url) <= LINK_MAX]

    def dropped(found: IncidentMessage) -> int:  # links too long to show: one line fewer each
        return sum(1 for _, url in found.links() if len(url) > LINK_MAX)

    assert len(plain.splitlines()) + dropped(message) == len(twin_plain.splitlines()) + dropped(twin)
    assert not any(line.startswith(("FORGED", "Subject:")) for line in plain.splitlines())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(fields=outside_fields())
def test_any_outside_text_renders_as_text_in_the_card_and_the_email(fields, card_validator) -> None:
    message, twin = incident(fields), incident(plain_twin(fields))
    check_card(message, twin, card_validator)
    check_email(message, twin)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(fields=outside_fields())
def test_any_outside_text_renders_as_text_in_the_resolution(fields, card_validator) -> None:
    message, twin = resolution(fields), resolution(plain_twin(fields))
    check_card(message, twin, card_validator)
    check_email(message, twin)


# --- the probe's findings, one by one -------------------------------------------------------------


def test_a_link_in_the_alert_rule_name_is_shown_not_linked(alert_data, card_validator) -> None:
    alert_data["essentials"]["alertRule"] = "[click](https://evil.example/login) for details"
    gateway_id = alert_data["essentials"]["alertTargetIDs"][0]
    message = build_message(gateway_id, incident_id="inc-1", findings=[], alert=alert_data)
    card = build_payload(message)["attachments"][0]["content"]
    card_validator.validate(card)
    [alert] = [fact["value"] for fact in card["body"][1]["facts"] if fact["title"] == "Alert"]
    assert alert.startswith(r"\[click\]\(https\[:\]//evil.example/login\) for details")
    assert_inert_markdown(alert)
    # Elsewhere the name is in TextRuns, which Teams shows as typed.
    holders = [kind for kind, text in card_texts(card) if "[click](https://evil.example/login)" in text]
    assert holders and set(holders) == {"plain"}
    _, _, tags = email_parts(message)
    assert tags.hrefs == [url for _, url in message.links() if len(url) <= LINK_MAX]


def test_a_newline_in_the_alert_rule_name_no_longer_stops_the_resolution_email(alert_data) -> None:
    alert_data["essentials"]["alertRule"] = "appgw-5xx\r\nBcc: attacker@evil.example\r\n\r\nbody"
    gateway_id = alert_data["essentials"]["alertTargetIDs"][0]
    message = build_resolution_message(
        gateway_id, incident_id="inc-1", incident_level=Severity.WARNING, alert=alert_data
    )
    parsed, plain, _ = email_parts(message)
    assert (
        parsed["Subject"]
        == "[RESOLVED] agw-contoso: Alert appgw-5xx Bcc: attacker@evil.example body resolved"
    )
    assert parsed["Bcc"] is None
    assert not any(line.startswith("Bcc:") for line in plain.splitlines())


def test_facts_keep_reading_naturally_where_teams_reads_markdown(alert_data) -> None:
    """Escaping is exact, not lossy: a markdown renderer shows the fact as it was."""
    gateway_id = alert_data["essentials"]["alertTargetIDs"][0]
    facts = dict(
        (fact["title"], fact["value"])
        for fact in build_payload(
            build_message(gateway_id, incident_id="inc-1", findings=[], alert=alert_data)
        )["attachments"][0]["content"]["body"][1]["facts"]
    )
    assert facts["Gateway"] == "agw\\-contoso"
    assert facts["Metric"] == "ResponseStatus = 57 \\(alert when \\> 10\\)"
    assert facts["Fired"] == "2026\\-11\\-23T10:27:00Z"


def test_markdown_escaping_examples() -> None:
    assert markdown("1. one") == "1\\. one"
    assert markdown("  # a\n- b") == "\\# a \\- b"
    assert markdown("WWW.evil.example and ftp://x") == "WWW\\[.\\]evil.example and ftp\\[:\\]//x"
    assert markdown("a\\b") == "a\\\\b"
    assert markdown("\ud800") == "\ufffd"


def test_html_escapes_every_outside_field() -> None:
    rg = "rg"
    gateway_id = arm_id(rg, "agw")
    evil = "<img src=x onerror=alert(1)>"
    message = build_message(
        gateway_id,
        incident_id=evil,
        findings=[
            Finding(
                "C" + evil,
                Severity.CRITICAL,
                evil,
                arm_id(rg, "agw", evil),
                {evil: evil},
                Fix(evil, evil),
            )
        ],
        checks=[
            CheckResult(evil, CheckStatus.ERROR, evil),
            CheckResult(evil + "2", CheckStatus.SKIPPED, evil),
        ],
        actions=[
            ActionResult(
                evil,
                evil,
                evil,
                status,
                evil,
                change=Change(evil, {evil: evil}, {evil: evil}, evil),
                command=evil,
                undo=evil,
                verification=evil,
            )
            for status in ACTION_STATUSES
        ],
        remediation_mode=evil,
        remediation_note=evil,
        alert={"essentials": {"alertRule": evil, "severity": evil}},
    )
    _, _, tags = email_parts(message)
    assert "img" not in {tag for tag, _ in tags.tags}
    markup = build_email(message, sender="a@b", recipients=["c@d"]).get_body(preferencelist=("html",))
    assert html.escape(evil) in markup.get_content()


punctuation = st.text(st.sampled_from(list("\\`*_[]()<>#+-!|~&=.:/w1 \"'\n\t{}$^@;,?%")), max_size=30)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(hostile, punctuation))
def test_a_commonmark_renderer_shows_escaped_text_exactly_as_typed(text) -> None:
    """A real markdown renderer (markdown-it-py, CommonMark) makes one plain paragraph of an escaped
    field, reading exactly as the input on one line (URLs and `www.` defanged): no link, emphasis,
    code, heading, list, quote or HTML."""
    rendered = MarkdownIt("commonmark").render(markdown(text))
    shown = re.sub(r"(?i)(www)\.", r"\1[.]", one_line(text).strip().replace("://", "[:]//"))
    if not shown:
        assert rendered == ""
        return
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n"), rendered
    inner = rendered[len("<p>") : -len("</p>\n")]
    assert "<" not in inner and html.unescape(inner) == shown
