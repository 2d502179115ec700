"""Who hears about an incident: channel targets from app settings, overridden per gateway by tags.

App settings (secrets as Key Vault references in Azure):
  TEAMS_WEBHOOK_URL            default Teams Workflows webhook
  TEAMS_WEBHOOK_URL_<CHANNEL>  a named webhook a gateway can pick with a tag
  NOTIFY_EMAIL_TO              default recipients, comma- or semicolon-separated
  SMTP_HOST, SMTP_PORT (587), SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM,
  SMTP_STARTTLS (auto | always | never; true/false read as always/never; `auto` never sends the
    password without TLS, only `never` allows AUTH in clear text)
  TEAMS_MIN_SEVERITY, EMAIL_MIN_SEVERITY (critical | warning | info; default info = everything)

Gateway tags (names are case-insensitive, as in Azure):
  appgw-doctor-teams-channel   CHANNEL: use TEAMS_WEBHOOK_URL_<CHANNEL>; `none` turns Teams off
  appgw-doctor-email-to        recipients replacing NOTIFY_EMAIL_TO; `none` turns email off
  appgw-doctor-min-severity    threshold for both channels of this gateway

A tag names a webhook rather than holding its URL: a Workflows URL carries its signature (anyone
with Reader on the gateway could post to the channel) and is often longer than the 256 characters a
tag value may hold. A tag that cannot be honoured (unknown channel, unknown severity) is logged and
ignored, so a typo in a tag never silences an incident. Each channel is resolved on its own (`route`):
malformed settings for one channel make that channel a `ChannelProblem` (reported as a failed delivery)
and never stop the other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from model.findings import Severity
from notifications.content import IncidentMessage
from notifications.email import SmtpSettings, StartTls

log = logging.getLogger(__name__)

TAG_TEAMS_CHANNEL = "appgw-doctor-teams-channel"
TAG_EMAIL_TO = "appgw-doctor-email-to"
TAG_MIN_SEVERITY = "appgw-doctor-min-severity"
_OFF = "none"
_STARTTLS: dict[str, StartTls] = {
    "auto": "auto",
    "always": "always",
    "true": "always",
    "never": "never",
    "false": "never",
}


class RoutingError(ValueError):
    """App settings that cannot describe a channel (bad port, email without SMTP host, ...)."""


@dataclass(frozen=True)
class TeamsTarget:
    webhook_url: str
    min_severity: Severity = Severity.INFO

    channel = "teams"

    @property
    def label(self) -> str:
        """The webhook without its query string, which holds the signature."""
        return self.webhook_url.split("?", 1)[0]

    def __repr__(self) -> str:
        return f"TeamsTarget({self.label!r}, min_severity={self.min_severity.value})"


@dataclass(frozen=True)
class EmailTarget:
    recipients: tuple[str, ...]
    smtp: SmtpSettings
    min_severity: Severity = Severity.INFO

    channel = "email"

    @property
    def label(self) -> str:
        return ", ".join(self.recipients)


ChannelTarget = TeamsTarget | EmailTarget


@dataclass(frozen=True)
class ChannelProblem:
    """A channel that is meant to be used (a webhook or recipients are set) but cannot be: `reason` is
    the one-line configuration error, `target` what it would have gone to (never a secret)."""

    channel: str
    target: str
    reason: str


@dataclass(frozen=True)
class Routing:
    """The channels a message can go to, and those that are set up but misconfigured."""

    targets: list[ChannelTarget]
    problems: list[ChannelProblem]


def route(settings: Mapping[str, str], tags: Mapping[str, str] | None = None) -> Routing:
    """Resolve each channel on its own: a misconfigured email channel never costs Teams its
    notification, nor the reverse. A channel that cannot be configured becomes a `ChannelProblem`."""
    tag = {name.lower(): value.strip() for name, value in (tags or {}).items() if value is not None}
    override = _tag_severity(tag.get(TAG_MIN_SEVERITY))
    targets: list[ChannelTarget] = []
    problems: list[ChannelProblem] = []
    for resolve in (_teams_target, _email_target):
        try:
            target = resolve(settings, tag, override)
        except _ChannelError as error:
            problems.append(ChannelProblem(error.channel, error.target, str(error)))
            continue
        if target is not None:
            targets.append(target)
    return Routing(targets, problems)


def targets_for(settings: Mapping[str, str], tags: Mapping[str, str] | None = None) -> list[ChannelTarget]:
    """The channels a gateway's notifications go to; `RoutingError` for the first misconfigured one
    (for validating settings; the notify stage uses `route`, which keeps the good channels)."""
    routing = route(settings, tags)
    if routing.problems:
        raise RoutingError(routing.problems[0].reason)
    return routing.targets


class _ChannelError(RoutingError):
    def __init__(self, channel: str, target: str, reason: str) -> None:
        super().__init__(reason)
        self.channel = channel
        self.target = target


def _teams_target(
    settings: Mapping[str, str], tag: Mapping[str, str], override: Severity | None
) -> TeamsTarget | None:
    webhook = _setting(settings, "TEAMS_WEBHOOK_URL")
    channel = tag.get(TAG_TEAMS_CHANNEL)
    if channel is not None:
        if channel.lower() == _OFF:
            return None
        named = _setting(settings, f"TEAMS_WEBHOOK_URL_{_setting_suffix(channel)}")
        if named:
            webhook = named
        else:
            log.warning(
                "tag %s=%r names no TEAMS_WEBHOOK_URL_%s setting; using the default webhook",
                TAG_TEAMS_CHANNEL,
                channel,
                _setting_suffix(channel),
            )
    if not webhook:
        return None
    label = webhook.split("?", 1)[0]
    try:
        if not webhook.lower().startswith(("https://", "http://")):
            raise RoutingError(f"the Teams webhook must be an https:// URL, not {label[:40]!r}")
        return TeamsTarget(webhook, override or _severity(settings, "TEAMS_MIN_SEVERITY"))
    except RoutingError as error:
        raise _ChannelError("teams", label, str(error)) from None


def _email_target(
    settings: Mapping[str, str], tag: Mapping[str, str], override: Severity | None
) -> EmailTarget | None:
    recipients = parse_recipients(_setting(settings, "NOTIFY_EMAIL_TO") or "")
    if TAG_EMAIL_TO in tag:
        tagged = () if tag[TAG_EMAIL_TO].lower() == _OFF else parse_recipients(tag[TAG_EMAIL_TO])
        bad = [address for address in tagged if not _is_address(address)]
        if bad:
            log.warning(
                "tag %s=%r holds %s, not an email address; using NOTIFY_EMAIL_TO",
                TAG_EMAIL_TO,
                tag[TAG_EMAIL_TO],
                ", ".join(repr(address) for address in bad),
            )
        else:
            recipients = tagged
    if not recipients:
        return None
    label = ", ".join(recipients)
    try:
        bad = [address for address in recipients if not _is_address(address)]
        if bad:
            raise RoutingError(f"NOTIFY_EMAIL_TO holds {bad[0]!r}, which is not an email address")
        return EmailTarget(
            recipients, smtp_settings(settings), override or _severity(settings, "EMAIL_MIN_SEVERITY")
        )
    except RoutingError as error:
        raise _ChannelError("email", label, str(error)) from None


def should_send(message: IncidentMessage, target: ChannelTarget) -> bool:
    """A message goes to a channel when its level reaches the channel's threshold.

    A resolution message carries the level of its incident, so it follows the incident.
    """
    return message.level.rank <= target.min_severity.rank


def smtp_settings(settings: Mapping[str, str]) -> SmtpSettings:
    host = _setting(settings, "SMTP_HOST")
    sender = _setting(settings, "SMTP_FROM")
    if not host:
        raise RoutingError("email recipients are set but SMTP_HOST is not")
    if not sender:
        raise RoutingError("email recipients are set but SMTP_FROM is not")
    port_text = _setting(settings, "SMTP_PORT") or "587"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise RoutingError(f"SMTP_PORT must be a port number, not {port_text!r}")
    starttls = (_setting(settings, "SMTP_STARTTLS") or "auto").lower()
    if starttls not in _STARTTLS:
        raise RoutingError(f"SMTP_STARTTLS must be auto, always or never, not {starttls!r}")
    return SmtpSettings(
        host=host,
        sender=sender,
        port=int(port_text),
        username=_setting(settings, "SMTP_USERNAME"),
        password=_setting(settings, "SMTP_PASSWORD"),
        starttls=_STARTTLS[starttls],
    )


def parse_recipients(text: str) -> tuple[str, ...]:
    """`a@x, b@x; c@x` -> ('a@x', 'b@x', 'c@x'), without blanks or repeats."""
    seen: dict[str, None] = {}
    for part in re.split(r"[,;\s]+", text):
        if part:
            seen.setdefault(part, None)
    return tuple(seen)


def _severity(settings: Mapping[str, str], name: str) -> Severity:
    value = (_setting(settings, name) or Severity.INFO.value).lower()
    try:
        return Severity(value)
    except ValueError:
        raise RoutingError(f"{name} must be critical, warning or info, not {value!r}") from None


def _is_address(text: str) -> bool:
    """A bare `local@domain`: nothing that could end the To header or add a display name or another
    address to it (a tag value comes from whoever can tag the gateway)."""
    local, _, domain = text.rpartition("@")
    return bool(local) and bool(domain) and _ADDRESS_CHARS.fullmatch(text) is not None


# No whitespace or control characters, and none of the address specials `<>()[]\,;:"`.
_ADDRESS_CHARS = re.compile(r'[^\s\x00-\x1f\x7f<>()\[\]\\,;:"]+')


def _tag_severity(value: str | None) -> Severity | None:
    if value is None:
        return None
    try:
        return Severity(value.lower())
    except ValueError:
        log.warning(
            "tag %s=%r is not critical, warning or info; using the app settings", TAG_MIN_SEVERITY, value
        )
        return None


def _setting(settings: Mapping[str, str], name: str) -> str | None:
    value = settings.get(name)
    if value is None:
        return None
    return value.strip() or None


def _setting_suffix(channel: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", channel.upper())
