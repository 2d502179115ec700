"""Changes on a gateway's path, as plain data: who changed what, when — from the Azure Activity Log,
from a diff against the gateway's last healthy configuration, or the bot's own writes.

A `Change` travels in reports as `{"time", "resource", "operation", "caller", "status", "source",
"summary"}`; a finding carries the changes to the resource at fault or its parents, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

ACTIVITY_LOG, LAST_HEALTHY_DIFF, APPGW_DOCTOR = "activity-log", "last-healthy-diff", "appgw-doctor"
SOURCES = (ACTIVITY_LOG, LAST_HEALTHY_DIFF, APPGW_DOCTOR)


@dataclass(frozen=True)
class PathChange:
    time: datetime | None  # aware UTC; None for a diff (it happened since the last healthy diagnosis)
    resource: str  # the ARM id changed (a rule, a probe, an NSG, ...)
    operation: str  # e.g. Microsoft.Network/networkSecurityGroups/securityRules/write, or "added"
    caller: str | None  # alice@contoso.com, "app <appid>", or None when unknown
    status: str  # Succeeded | Failed | Started | ... ("changed" for a diff)
    source: str  # one of SOURCES
    summary: str  # one line a person reads
    since: datetime | None = None  # a diff: the last healthy diagnosis' time
    undo: str | None = None  # the `az` command that would undo it (text for a person, never run)
    client: str | None = None  # what the caller used, when the log says (e.g. "Azure CLI", "Portal")

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat() if self.time else None,
            "resource": self.resource,
            "operation": self.operation,
            "caller": self.caller,
            "status": self.status,
            "source": self.source,
            "summary": self.summary,
            **({"since": self.since.isoformat()} if self.since else {}),
            **({"undo": self.undo} if self.undo else {}),
            **({"client": self.client} if self.client else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PathChange:
        return cls(
            time=datetime.fromisoformat(data["time"]) if data.get("time") else None,
            resource=data.get("resource") or "",
            operation=data.get("operation") or "",
            caller=data.get("caller"),
            status=data.get("status") or "",
            source=data.get("source") or ACTIVITY_LOG,
            summary=data.get("summary") or "",
            since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
            undo=data.get("undo"),
            client=data.get("client"),
        )

    def touches(self, resource_id: str) -> bool:
        """This change is to `resource_id`, one of its parents, or one of its children."""
        mine, theirs = self.resource.lower().rstrip("/"), resource_id.lower().rstrip("/")
        return mine == theirs or theirs.startswith(mine + "/") or mine.startswith(theirs + "/")
