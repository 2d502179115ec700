"""The world's custom DNS servers answer real DNS queries (dnspython client)."""

from __future__ import annotations

import json
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from simulator.dns import DnsResponders, answer, build_response

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dns_world() -> dict:
    return json.loads((ROOT / "scenarios/custom-dns/world.json").read_text())["dns"]


def ask(address: tuple[str, int], name: str, rdtype: str = "A") -> dns.message.Message:
    host, port = address
    return dns.query.udp(dns.message.make_query(name, rdtype), host, port=port, timeout=5)


def test_answer_is_case_and_dot_insensitive():
    table = {"www.contoso.net": ["10.1.1.4", "10.1.1.5"]}
    assert answer(table, "WWW.Contoso.NET.") == ["10.1.1.4", "10.1.1.5"]
    assert answer(table, "api.contoso.net") is None


def test_responders_answer_listed_names_and_nxdomain_otherwise(dns_world):
    with DnsResponders(dns_world) as responders:
        assert set(responders.addresses) == set(dns_world)
        for server in dns_world:
            found = ask(responders.addresses[server], "www.contoso.net")
            assert found.rcode() == dns.rcode.NOERROR
            assert [r.address for r in found.answer[0]] == dns_world[server]["www.contoso.net"]
            missing = ask(responders.addresses[server], "api.internal.contoso.net")
            assert missing.rcode() == dns.rcode.NXDOMAIN
            assert missing.answer == []


def test_each_server_answers_from_its_own_table():
    world = {"10.50.0.10": {"a.contoso.net": ["10.1.1.4"]}, "10.50.0.11": {"b.contoso.net": ["10.1.1.5"]}}
    with DnsResponders(world) as responders:
        assert ask(responders.addresses["10.50.0.10"], "b.contoso.net").rcode() == dns.rcode.NXDOMAIN
        reply = ask(responders.addresses["10.50.0.11"], "b.contoso.net")
        assert [r.address for r in reply.answer[0]] == ["10.1.1.5"]


def test_other_record_types_of_a_known_name_are_empty_noerror():
    with DnsResponders({"10.50.0.10": {"a.contoso.net": ["10.1.1.4"]}}) as responders:
        reply = ask(responders.addresses["10.50.0.10"], "a.contoso.net", "AAAA")
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.answer == []


def test_stop_releases_the_ports():
    responders = DnsResponders({"10.50.0.10": {}}).start()
    address = responders.addresses["10.50.0.10"]
    responders.stop()
    assert responders.addresses == {}
    with pytest.raises((dns.exception.Timeout, ConnectionRefusedError)):
        dns.query.udp(dns.message.make_query("a.contoso.net", "A"), address[0], port=address[1], timeout=0.3)


def test_garbage_packets_are_dropped():
    assert build_response(b"\x00\x01garbage", {}) is None


def test_no_world_means_no_responders():
    with DnsResponders(None) as responders:
        assert responders.addresses == {}
