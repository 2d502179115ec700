"""`_Shapes`: the shape walks started as collected pieces arrive, drained by one walker thread, and
what `malformed_in` reads of them."""

from __future__ import annotations

import copy
import threading

from azure.mgmt.network import models as net

from diagnostics.collect import _Shapes, _walk
from tests.diagnostics.sized_world import sized_world

NIC = net.NetworkInterface


def _nics(count_pools: int) -> list[dict]:
    world = sized_world(count_pools, nics=True)
    return [copy.deepcopy(r) for r in world["resources"] if r["type"].endswith("networkInterfaces")]


def test_what_is_noted_from_many_threads_reads_as_walking_it_then_would():
    nics = _nics(20)  # 200 NICs
    for nic in nics[::7]:  # some malformed, as a list may hand them
        nic["properties"]["ipConfigurations"][0]["properties"]["subnet"] = "subnet-1"
    shapes = _Shapes()
    try:
        threads = [
            threading.Thread(target=lambda part=part: [shapes.note_model(n, NIC) for n in part])
            for part in (nics[0::3], nics[1::3], nics[2::3])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        found = [shapes.of(nic, f"NIC {i}", NIC) for i, nic in enumerate(nics)]
    finally:
        shapes.close()
    assert found == [_walk(nic, f"NIC {i}", NIC) for i, nic in enumerate(nics)]
    assert sum(1 for problems in found if problems) == len(nics[::7])


def test_a_piece_noted_twice_is_reported_once_with_the_label_asked_for():
    [nic] = _nics(1)[:1]
    nic["properties"]["ipConfigurations"][0]["properties"]["subnet"] = "subnet-1"
    shapes = _Shapes()
    try:
        shapes.note_model(nic, NIC)
        shapes.note_model(nic, NIC)
        problems = shapes.of(nic, "NIC a", NIC)
    finally:
        shapes.close()
    assert len(problems) == 1 and problems[0].startswith("NIC a.")


def test_after_close_what_was_not_walked_is_walked_when_asked_for():
    nics = _nics(2)
    nics[0]["tags"] = ["a"]
    shapes = _Shapes()
    shapes.close()
    for nic in nics:
        shapes.note_model(nic, NIC)  # closed: nothing is walked in the background, nothing waits
    assert shapes.of(nics[0], "n", NIC) == _walk(nics[0], "n", NIC) != []
    assert shapes.of(nics[1], "n", NIC) == []
