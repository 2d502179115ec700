"""resolve_fqdn against real UDP DNS responders: which server's answer counts, and what 'does not
resolve' means (NXDOMAIN, SERVFAIL everywhere) versus 'could not be checked' (nobody answered)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from diagnostics.collect import resolve_fqdn

Answer = Callable[[dns.message.Message], dns.message.Message]


def nxdomain(query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.NXDOMAIN)
    return response


def servfail(query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.SERVFAIL)
    return response


def cname_then_a(query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query)
    name = query.question[0].name
    response.answer.append(
        dns.rrset.from_text(name, 60, dns.rdataclass.IN, dns.rdatatype.CNAME, "app.backend.internal.")
    )
    response.answer.append(
        dns.rrset.from_text_list(
            "app.backend.internal.", 60, dns.rdataclass.IN, dns.rdatatype.A, ["10.2.0.9", "10.2.0.10"]
        )
    )
    return response


@pytest.fixture
def responder() -> Iterator[Callable[[Answer], tuple[str, int]]]:
    """Factory: a UDP DNS server on 127.0.0.1 answering every query with `answer(query)`."""
    sockets: list[socket.socket] = []

    def start(answer: Answer) -> tuple[str, int]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)

        def serve() -> None:
            while True:
                try:
                    data, peer = sock.recvfrom(4096)
                except OSError:
                    return
                sock.sendto(answer(dns.message.from_wire(data)).to_wire(), peer)

        threading.Thread(target=serve, daemon=True).start()
        return sock.getsockname()

    yield start
    for sock in sockets:
        sock.close()


def silent() -> tuple[socket.socket, tuple[str, int]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()


def test_a_records_behind_a_cname_are_the_answer(responder):
    addresses = {"10.50.0.10": responder(cname_then_a)}
    assert resolve_fqdn("www.contoso.net", ["10.50.0.10"], addresses) == ["10.2.0.9", "10.2.0.10"]


def test_nxdomain_from_the_first_server_that_answers_means_it_does_not_resolve(responder):
    addresses = {"10.50.0.10": responder(nxdomain), "10.50.0.11": responder(cname_then_a)}
    assert resolve_fqdn("www.contoso.net", ["10.50.0.10", "10.50.0.11"], addresses) == []


def test_a_silent_first_server_falls_through_to_the_next(responder):
    sock, address = silent()
    with sock:
        addresses = {"10.50.0.10": address, "10.50.0.11": responder(cname_then_a)}
        answer = resolve_fqdn("www.contoso.net", ["10.50.0.10", "10.50.0.11"], addresses, timeout=0.2)
    assert answer == ["10.2.0.9", "10.2.0.10"]


def test_servfail_tries_the_next_server_and_alone_means_it_does_not_resolve(responder):
    failing = responder(servfail)
    both = {"10.50.0.10": failing, "10.50.0.11": responder(cname_then_a)}
    assert resolve_fqdn("www.contoso.net", ["10.50.0.10", "10.50.0.11"], both) == ["10.2.0.9", "10.2.0.10"]
    assert resolve_fqdn("www.contoso.net", ["10.50.0.10"], {"10.50.0.10": failing}) == []


def test_nobody_to_ask_or_nobody_answering_is_unknown_not_unresolvable():
    sock, address = silent()
    with sock:
        assert resolve_fqdn("www.contoso.net", ["10.50.0.10"], {"10.50.0.10": address}, timeout=0.2) is None
    assert resolve_fqdn("www.contoso.net", ["10.50.0.10"], {}) is None
