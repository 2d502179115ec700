"""The NSG rule guard: a rule the bot adds never opens more than the finding proved blocked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from model.plans import AllowRule
from remediation.safety import BROAD, unsafe_reason

NSG = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg"
BACKEND = {
    "direction": "Inbound",
    "source": "10.1.0.0/24",
    "blocked": [{"address": "10.1.1.4", "port": 8080}, {"address": "10.1.1.5", "port": 8080}],
}


def rule(**changes):
    values = dict(
        nsg_id=NSG,
        name="appgw-doctor-AllowAppGatewayToBackend",
        priority=199,
        direction="Inbound",
        sources=("10.1.0.0/24",),
        destinations=("10.1.1.4", "10.1.1.5"),
        ports=("8080",),
    )
    values.update(changes)
    return AllowRule(**values)


def test_the_exact_rule_is_safe():
    assert unsafe_reason(rule(), "NSG_BLOCKS_BACKEND", BACKEND) is None


def test_crafted_unsafe_plans_are_refused():
    crafted = {
        "broad source": rule(sources=("*",)),
        "internet": rule(sources=("Internet",)),
        "vnet destination": rule(destinations=("VirtualNetwork",)),
        "any destination": rule(destinations=("0.0.0.0/0",)),
        "other address": rule(destinations=("10.1.1.9",)),
        "wider ports": rule(ports=("8000-9000",)),
        "other port": rule(ports=("22",)),
        "other source": rule(sources=("10.9.0.0/16",)),
        "wrong direction": rule(direction="Outbound"),
        "not ours by name": rule(name="AllowEverything"),
        "priority out of range": rule(priority=50),
    }
    for label, plan in crafted.items():
        assert unsafe_reason(plan, "NSG_BLOCKS_BACKEND", BACKEND) is not None, label


def test_the_infrastructure_rule_is_gateway_manager_on_the_sku_range_only():
    evidence = {"requiredPorts": "65200-65535"}
    infra = rule(
        name="appgw-doctor-AllowGatewayManagerInfra",
        sources=("GatewayManager",),
        destinations=("*",),
        ports=("65200-65535",),
    )
    assert unsafe_reason(infra, "NSG_BLOCKS_INFRA_PORTS", evidence) is None
    assert unsafe_reason(infra, "NSG_BLOCKS_INFRA_PORTS", {"requiredPorts": "1-65535"}) is not None
    for bad in (
        rule(name=infra.name, sources=("Internet",), destinations=("*",), ports=("65200-65535",)),
        rule(name=infra.name, sources=("GatewayManager",), destinations=("*",), ports=("1-65535",)),
    ):
        assert unsafe_reason(bad, "NSG_BLOCKS_INFRA_PORTS", evidence) is not None


ports = st.integers(min_value=1, max_value=65535)


@given(
    blocked=st.lists(ports, min_size=1, max_size=4),
    low=ports,
    width=st.integers(min_value=0, max_value=2000),
    broad=st.sampled_from(sorted(BROAD) + ["10.1.1.4"]),
)
def test_never_a_port_range_wider_than_blocked_nor_a_broad_prefix(blocked, low, width, broad):
    high = min(65535, low + width)
    text = str(low) if high == low else f"{low}-{high}"
    evidence = {**BACKEND, "blocked": [{"address": "10.1.1.4", "port": p} for p in blocked]}
    plan = rule(destinations=(broad,), ports=(text,))
    reason = unsafe_reason(plan, "NSG_BLOCKS_BACKEND", evidence)
    if reason is None:  # allowed only when the range is within one blocked port and the target exact
        assert broad == "10.1.1.4"
        assert low == high and low in blocked
    if broad.lower() in BROAD:
        assert reason is not None
