"""Certificate host-name matching: SAN over CN, one-label wildcards, IP hosts."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from netrules.tls import common_names, hostname_matches


@pytest.mark.parametrize(
    "host, subject, sans, expected",
    [
        ("app.contoso.com", "CN=app.contoso.com, O=Contoso", [], True),
        ("APP.Contoso.com", "CN=app.contoso.com", [], True),
        ("app.contoso.com.", "CN=app.contoso.com", [], True),
        ("app.contoso.com", "CN=app.contoso.com.", [], True),
        ("app.contoso.com", "O=Contoso, CN=app.contoso.com", [], True),
        ("app.contoso.com", "/C=US/O=Contoso/CN=app.contoso.com", [], True),
        ("other.contoso.com", "CN=app.contoso.com", [], False),
        # SANs present: the CN no longer counts.
        ("app.contoso.com", "CN=app.contoso.com", ["www.contoso.com"], False),
        ("www.contoso.com", "CN=app.contoso.com", ["www.contoso.com"], True),
        ("www.contoso.com", None, ["DNS:www.contoso.com"], True),
        # Wildcards: exactly one leftmost label.
        ("a.contoso.com", None, ["*.contoso.com"], True),
        ("a.b.contoso.com", None, ["*.contoso.com"], False),
        ("contoso.com", None, ["*.contoso.com"], False),
        (".contoso.com", None, ["*.contoso.com"], False),
        ("a.contoso.com", "CN=*.contoso.com", [], True),
        ("foo.contoso.com", None, ["f*.contoso.com"], False),
        ("a.b.contoso.com", None, ["a.*.contoso.com"], False),
        ("contoso.com", None, ["*"], False),
        # IP hosts: only the identical address.
        ("10.1.1.4", "CN=10.1.1.4", [], True),
        ("10.1.1.4", None, ["IP Address:10.1.1.4"], True),
        ("10.1.1.4", None, ["10.1.1.5"], False),
        ("10.1.1.4", None, ["*.1.1.4"], False),
        ("2001:db8::1", None, ["2001:DB8:0::1"], True),
        # Nothing to match.
        ("app.contoso.com", None, [], False),
        ("", "CN=app.contoso.com", [], False),
    ],
)
def test_hostname_matches(host, subject, sans, expected):
    assert hostname_matches(host, subject=subject, sans=sans) is expected


def test_common_names():
    assert common_names("CN=app.contoso.com, O=Contoso, C=US") == ["app.contoso.com"]
    assert common_names("O=Contoso") == []
    assert common_names(None) == []


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(st.lists(labels, min_size=1, max_size=4), st.lists(labels, min_size=1, max_size=3))
def test_wildcard_covers_exactly_one_more_label(prefix_labels, domain_labels):
    domain = ".".join(domain_labels)
    host = ".".join([*prefix_labels, domain])
    assume(not _is_ip(host))  # an IP address host matches only an identical SAN (tested above)
    assert hostname_matches(host, subject=None, sans=[f"*.{domain}"]) is (len(prefix_labels) == 1)


@given(st.lists(labels, min_size=1, max_size=4))
def test_exact_name_matches_itself_in_any_case(host_labels):
    host = ".".join(host_labels)
    assert hostname_matches(host.upper(), subject=f"CN={host}", sans=[])
    assert hostname_matches(host, subject=None, sans=[host.upper()])
