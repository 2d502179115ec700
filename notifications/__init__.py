"""Notifications: one message built from a diagnosis, rendered as a Teams card and an email, delivered
to the channels routing picks, with retries and an outbox for dry runs. See docs/NOTIFICATIONS.md."""

from notifications.content import (
    IncidentMessage,
    build_approval_message,
    build_message,
    build_resolution_message,
)
from notifications.dispatch import DeliveryResult, RetryPolicy, notify
from notifications.routing import ChannelProblem, EmailTarget, TeamsTarget, route, targets_for

__all__ = [
    "ChannelProblem",
    "DeliveryResult",
    "EmailTarget",
    "IncidentMessage",
    "RetryPolicy",
    "TeamsTarget",
    "build_approval_message",
    "build_message",
    "build_resolution_message",
    "notify",
    "route",
    "targets_for",
]
