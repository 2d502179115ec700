"""Security rule writes as ARM answers them, through the real SDK: create-only PUTs
(`If-None-Match: *`), priority and direction conflicts, conditional DELETEs (`If-Match`), etags."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import models

RG = "rg-contoso-web"
NSG = "nsg-contoso-backend"
SUB = "00000000-0000-0000-0000-000000000001"
NSG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/networkSecurityGroups/{NSG}"


@pytest.fixture
def sim(simulator):
    return simulator("scenarios/request-timeout/world.json")


@pytest.fixture
def network(sim, clients):
    return clients(sim).network


def _rule(priority: int, direction: str = "Inbound", port: str = "65200-65535") -> models.SecurityRule:
    return models.SecurityRule(
        protocol="Tcp",
        source_address_prefix="GatewayManager",
        source_port_range="*",
        destination_address_prefix="*",
        destination_port_range=port,
        access="Allow",
        priority=priority,
        direction=direction,
    )


def _free_priority(network, direction: str = "Inbound") -> int:
    taken = {r.priority for r in network.security_rules.list(RG, NSG) if r.direction == direction}
    return next(p for p in range(1000, 4097) if p not in taken)


def test_if_none_match_star_creates_a_rule_and_bumps_the_nsg_etag(sim, network):
    before = network.network_security_groups.get(RG, NSG)
    created = network.security_rules.begin_create_or_update(
        RG, NSG, "AllowGwm", _rule(_free_priority(network)), headers={"If-None-Match": "*"}
    ).result()
    assert created.provisioning_state == "Succeeded"
    after = network.network_security_groups.get(RG, NSG)
    assert after.etag != before.etag and created.etag == after.etag
    assert sim.requests.count("securityRules.createOrUpdate", status=201) == 1


def test_if_none_match_star_on_an_existing_rule_is_412_and_changes_nothing(sim, network):
    priority = _free_priority(network)
    network.security_rules.begin_create_or_update(
        RG, NSG, "AllowGwm", _rule(priority), headers={"If-None-Match": "*"}
    ).result()
    before = sim.world.get(NSG_ID)
    with pytest.raises(HttpResponseError) as raised:
        network.security_rules.begin_create_or_update(
            RG, NSG, "allowgwm", _rule(priority, port="443"), headers={"If-None-Match": "*"}
        ).result()
    assert raised.value.status_code == 412
    assert raised.value.error.code == "PreconditionFailed"
    assert sim.world.get(NSG_ID) == before
    assert network.security_rules.get(RG, NSG, "AllowGwm").destination_port_range == "65200-65535"


@pytest.mark.parametrize("create_only", [True, False])
def test_same_priority_and_direction_is_security_rule_conflict(sim, network, create_only):
    existing = next(r for r in network.security_rules.list(RG, NSG) if r.direction == "Inbound")
    before = sim.world.get(NSG_ID)
    headers = {"If-None-Match": "*"} if create_only else {}
    with pytest.raises(HttpResponseError) as raised:
        network.security_rules.begin_create_or_update(
            RG, NSG, "AllowGwm", _rule(existing.priority), headers=headers
        ).result()
    assert raised.value.status_code == 400
    assert raised.value.error.code == "SecurityRuleConflict"
    assert raised.value.error.message == (
        f"Security rule AllowGwm conflicts with rule {existing.name}. "
        "Rules cannot have the same Priority and Direction."
    )
    assert sim.world.get(NSG_ID) == before


def test_same_priority_in_the_other_direction_is_allowed(network):
    existing = next(r for r in network.security_rules.list(RG, NSG) if r.direction == "Inbound")
    outbound = {r.priority for r in network.security_rules.list(RG, NSG) if r.direction == "Outbound"}
    assert existing.priority not in outbound
    created = network.security_rules.begin_create_or_update(
        RG, NSG, "OutSame", _rule(existing.priority, "Outbound"), headers={"If-None-Match": "*"}
    ).result()
    assert created.priority == existing.priority and created.direction == "Outbound"


def test_delete_with_a_stale_if_match_is_412_and_deletes_nothing(sim, network):
    created = network.security_rules.begin_create_or_update(
        RG, NSG, "AllowGwm", _rule(_free_priority(network)), headers={"If-None-Match": "*"}
    ).result()
    # Another writer changes the NSG: the rule shares its NSG's etag, so the one we hold is stale.
    network.security_rules.begin_create_or_update(RG, NSG, "Other", _rule(_free_priority(network))).result()
    before = sim.world.get(NSG_ID)
    with pytest.raises(HttpResponseError) as raised:
        network.security_rules.begin_delete(RG, NSG, "AllowGwm", headers={"If-Match": created.etag}).result()
    assert raised.value.status_code == 412
    assert raised.value.error.code == "PreconditionFailed"
    assert sim.world.get(NSG_ID) == before
    assert network.security_rules.get(RG, NSG, "AllowGwm").name == "AllowGwm"


def test_delete_with_the_current_if_match_deletes_and_bumps_the_etag(sim, network):
    created = network.security_rules.begin_create_or_update(
        RG, NSG, "AllowGwm", _rule(_free_priority(network)), headers={"If-None-Match": "*"}
    ).result()
    current = network.security_rules.get(RG, NSG, "AllowGwm").etag
    assert current == created.etag
    network.security_rules.begin_delete(RG, NSG, "AllowGwm", headers={"If-Match": current}).result()
    assert "AllowGwm" not in [r.name for r in network.security_rules.list(RG, NSG)]
    assert network.network_security_groups.get(RG, NSG).etag != current
    assert sim.requests.count("securityRules.delete", status=202) == 1


def test_delete_with_if_match_of_a_rule_already_gone_is_412(network):
    with pytest.raises(HttpResponseError) as raised:
        network.security_rules.begin_delete(RG, NSG, "Absent", headers={"If-Match": 'W/"x"'}).result()
    assert raised.value.status_code == 412
    # Without a condition, deleting what is not there is a no-op, as in ARM.
    network.security_rules.begin_delete(RG, NSG, "Absent").result()
