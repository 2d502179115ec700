"""NSG rules read from the SDK's models and from the same plain JSON (the simulator's) are the same
rules: every NSG of every bundled and test world, and every NIC's effective NSGs the simulator
computes for it, read both ways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.network import models

from netrules.nsg import NsgRules
from simulator.effective import effective_network_security_groups

ROOT = Path(__file__).resolve().parents[2]
WORLDS = sorted([*ROOT.glob("scenarios/*/world.json"), *ROOT.glob("tests/worlds/*/world.json")])


def _resources(kind: str) -> list[tuple[str, dict[str, Any], dict[str, dict[str, Any]]]]:
    found = []
    for path in WORLDS:
        world = json.loads(path.read_text(encoding="utf-8"))
        by_id = {r["id"].lower(): r for r in world.get("resources", []) if isinstance(r, dict) and "id" in r}
        for resource in by_id.values():
            if resource.get("type", "").lower() == kind:
                found.append((f"{path.parent.name}:{resource.get('name')}", resource, by_id))
    return found


NSGS = _resources("microsoft.network/networksecuritygroups")
NICS = _resources("microsoft.network/networkinterfaces")


def test_the_worlds_hold_nsgs_and_nics() -> None:
    assert len(NSGS) >= 20 and len(NICS) >= 5


@pytest.mark.parametrize(("label", "nsg"), [(label, nsg) for label, nsg, _ in NSGS], ids=[n[0] for n in NSGS])
def test_an_nsg_reads_the_same_from_its_model_and_its_json(label: str, nsg: dict[str, Any]) -> None:
    from_json = NsgRules.from_nsg(nsg)
    assert NsgRules.from_nsg(models.NetworkSecurityGroup(nsg)) == from_json
    assert from_json.rules  # custom rules and defaults, or Azure's six defaults


@pytest.mark.parametrize(("label", "nic", "by_id"), NICS, ids=[n[0] for n in NICS])
def test_effective_nsgs_read_the_same_from_their_models_and_their_json(
    label: str, nic: dict[str, Any], by_id: dict[str, dict[str, Any]]
) -> None:
    answer = effective_network_security_groups(nic, lambda resource_id: by_id.get(resource_id.lower()))
    for group in answer.get("value") or []:
        from_json = NsgRules.from_effective(group)
        assert NsgRules.from_effective(models.EffectiveNetworkSecurityGroup(group)) == from_json
