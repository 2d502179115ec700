"""Who hears about an incident: channel targets from app settings, overridden per gateway by tags.

App settings (secrets as Key Vault references in Azure):
  TEAMS_WEBHOOK_URL            default Teams Workflows webhook
  TEAMS_WEBHOOK_URL_<CHANNEL>  a named webhook a gateway can pick with a tag
  NOTIFY_EMAIL_TO              default recipients, comma- or semicolon-separated
  SMTP_HOST, SMTP_PORT (587), SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM,
  SMTP_STARTTLS (auto | always | never; true/false read as always/never)
  TEAMS_MIN_SEVERITY, EMAIL_MIN_SEVERITY (critical | warning | info; default info = everything)

Gateway tags (names are case-insensitive, as in Azure):
  appgw-doctor-teams-channel   CHANNEL: use TEAMS_WEBHOOK_URL_<CHANNEL>; `none` turns Teams off
  appgw-doctor-email-to        recipients replacing NOTIFY_EMAIL_TO; `none` turns email off
  appgw-doctor-min-severity    threshold for both channels of this gateway

A tag names a webhook rather than holding its URL: a Workflows URL carries its signature (anyone
with Reader on the gateway could post to the channel) and is often longer than the 256 characters a
tag value may hold. A tag that cannot be honoured (unknown channel, unknown severity) is logged and
ignored, so a typo in a tag never silences an incident; malformed app settings raise `RoutingError`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from diagnostics.findings import Severity
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


def targets_for(settings: Mapping[str, str], tags: Mapping[str, str] | None = None) -> list[ChannelTarget]:
    """The channels a gateway's notifications go to, given app settings and the gateway's tags."""
    tag = {name.lower(): value.strip() for name, value in (tags or {}).items() if value is not None}
    override = _tag_severity(tag.get(TAG_MIN_SEVERITY))
    targets: list[ChannelTarget] = []

    webhook = _setting(settings, "TEAMS_WEBHOOK_URL")
    channel = tag.get(TAG_TEAMS_CHANNEL)
    if channel is not None:
        if channel.lower() == _OFF:
            webhook = None
        else:
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
    if webhook:
        targets.append(TeamsTarget(webhook, override or _severity(settings, "TEAMS_MIN_SEVERITY")))

    recipients = parse_recipients(_setting(settings, "NOTIFY_EMAIL_TO") or "")
    if TAG_EMAIL_TO in tag:
        recipients = () if tag[TAG_EMAIL_TO].lower() == _OFF else parse_recipients(tag[TAG_EMAIL_TO])
    if recipients:
        targets.append(
            EmailTarget(
                recipients, smtp_settings(settings), override or _severity(settings, "EMAIL_MIN_SEVERITY")
            )
        )
    return targets


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
