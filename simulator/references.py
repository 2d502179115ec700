"""Back-references ARM computes when it serves a resource, from the current state of the estate.

A resource body names what it uses (a NIC IP configuration its subnet, a subnet its NSG and
route table); ARM also answers the other way round, and the SDK models carry it:

- a subnet's ``ipConfigurations``: the NIC IP configurations in it, and its
  ``applicationGatewayIPConfigurations``: the gateway IP configurations in it;
- a network security group's ``networkInterfaces`` and ``subnets``: what it is associated with;
- a route table's ``subnets``.

Each list is ``[{"id": ...}]`` and is only added when the served body does not already have
it (a world may give one verbatim) and it is not empty. They are found in one pass over the
estate, which the server keeps until the next change to the resources, so a write (a subnet that
drops its NSG) shows at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulator.effective import props


def _key(reference: Any) -> str:
    return str((reference or {}).get("id") or "").lower()


class BackReferences:
    """The references into each resource, from one pass over the estate's resources."""

    def __init__(self, resources: Iterable[dict[str, Any]]) -> None:
        self._found: dict[tuple[str, str], list[str]] = {}
        for resource in resources:
            kind = str(resource.get("type") or "").lower()
            if kind.endswith("/networkinterfaces"):
                self._nic(resource)
            elif kind.endswith("/virtualnetworks"):
                for subnet in props(resource).get("subnets") or []:
                    for key, field in (("networkSecurityGroup", "subnets"), ("routeTable", "subnets")):
                        self._add(_key(props(subnet).get(key)), field, subnet.get("id"))
            elif kind.endswith("/applicationgateways"):
                for config in props(resource).get("gatewayIPConfigurations") or []:
                    subnet = _key(props(config).get("subnet"))
                    self._add(subnet, "applicationGatewayIPConfigurations", config.get("id"))

    def _nic(self, nic: dict[str, Any]) -> None:
        self._add(_key(props(nic).get("networkSecurityGroup")), "networkInterfaces", nic.get("id"))
        for config in props(nic).get("ipConfigurations") or []:
            self._add(_key(props(config).get("subnet")), "ipConfigurations", config.get("id"))

    def _add(self, target: str, field: str, source_id: Any) -> None:
        if target and source_id:
            self._found.setdefault((target, field), []).append(str(source_id))

    def _fill(self, body: dict[str, Any], fields: tuple[str, ...]) -> None:
        properties = body.setdefault("properties", {})
        for field in fields:
            found = self._found.get((_key(body), field))
            if found and field not in properties:
                properties[field] = [{"id": source_id} for source_id in found]

    def subnet(self, subnet: dict[str, Any]) -> dict[str, Any]:
        """The subnet body (changed in place) with its back-references."""
        self._fill(subnet, ("ipConfigurations", "applicationGatewayIPConfigurations"))
        return subnet

    def served(self, resource: dict[str, Any]) -> dict[str, Any]:
        """`resource` as ARM serves it, for readers only: the stored body itself when nothing refers
        to it, else a copy of just what its back-references change (the body, its properties and,
        for a VNet, its subnets), the rest shared with the stored body."""
        kind = str(resource.get("type") or "").lower()
        if not kind.endswith(("/virtualnetworks", "/networksecuritygroups", "/routetables")):
            return resource
        served = _with_own_properties(resource)
        subnets = props(served).get("subnets")
        if kind.endswith("/virtualnetworks") and isinstance(subnets, list):
            served["properties"]["subnets"] = [_with_own_properties(s) for s in subnets]
        return self.resource(served)

    def resource(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The top-level resource body (changed in place) with its and its subnets' back-references."""
        kind = str(resource.get("type") or "").lower()
        if kind.endswith("/virtualnetworks"):
            for subnet in props(resource).get("subnets") or []:
                self.subnet(subnet)
        elif kind.endswith("/networksecuritygroups"):
            self._fill(resource, ("networkInterfaces", "subnets"))
        elif kind.endswith("/routetables"):
            self._fill(resource, ("subnets",))
        return resource


def _with_own_properties(body: Any) -> Any:
    """A shallow copy of a JSON object whose `properties` object is a copy too (anything else as is)."""
    if not isinstance(body, dict):
        return body
    properties = body.get("properties")
    return {**body, "properties": dict(properties) if isinstance(properties, dict) else properties or {}}
