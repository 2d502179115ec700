"""Custom DNS servers of a world, as real UDP DNS responders on 127.0.0.1.

A world's ``dns`` section says what each custom DNS server of a VNet answers
(``{"10.50.0.10": {"www.contoso.net": ["10.1.1.4"]}}``). The backend-health derivation
reads that table directly (:func:`answer`); :class:`DnsResponders` additionally serves
it over the DNS wire protocol, one responder per server IP on an ephemeral local port,
so a diagnosis can query "the VNet's DNS server" with a real DNS client.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Mapping

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ANSWER_TTL = 60


def _normalise(name: str) -> str:
    return name.strip().rstrip(".").lower()


def answer(table: Mapping[str, list[str]], name: str) -> list[str] | None:
    """The A records ``table`` (one server's entries) holds for ``name``, or None (NXDOMAIN).

    Names compare case-insensitively, with or without the trailing dot.
    """
    wanted = _normalise(name)
    for listed, addresses in table.items():
        if _normalise(listed) == wanted:
            return list(addresses)
    return None


def build_response(query_wire: bytes, table: Mapping[str, list[str]]) -> bytes | None:
    """The wire response to one DNS query: A answers from ``table``, NXDOMAIN otherwise.

    A name that exists but is asked for another record type gets an empty NOERROR answer,
    as an authoritative server gives. Returns None for a packet that is not a DNS query.
    """
    try:
        query = dns.message.from_wire(query_wire)
    except Exception:  # malformed packets are dropped, as a real server would
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA | dns.flags.RA
    if not query.question:
        response.set_rcode(dns.rcode.FORMERR)
        return response.to_wire()
    question = query.question[0]
    addresses = answer(table, question.name.to_text())
    if addresses is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
    elif question.rdtype == dns.rdatatype.A and addresses:
        response.answer.append(
            dns.rrset.from_text_list(question.name, ANSWER_TTL, dns.rdataclass.IN, dns.rdatatype.A, addresses)
        )
    return response.to_wire()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = build_response(data, self.server.table)  # type: ignore[attr-defined]
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _Server(socketserver.ThreadingUDPServer):
    daemon_threads = True

    def __init__(self, table: Mapping[str, list[str]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.table = table


class DnsResponders:
    """One UDP DNS responder per custom DNS server of the world.

    Use as a context manager or with start()/stop(). ``addresses`` maps each server IP
    of the world to the ``(host, port)`` its responder listens on. The responders read
    ``dns_world`` live, so later edits to a server's table are answered.
    """

    def __init__(self, dns_world: Mapping[str, Mapping[str, list[str]]] | None) -> None:
        self._world = dns_world or {}
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        return {ip: server.server_address[:2] for ip, server in self._servers.items()}  # type: ignore[misc]

    def start(self) -> DnsResponders:
        if self._servers:
            return self
        for ip, table in self._world.items():
            server = _Server(table)
            thread = threading.Thread(target=server.serve_forever, name=f"dns-{ip}", daemon=True)
            thread.start()
            self._servers[ip] = server
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> DnsResponders:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
