"""Where a webhook may go (issue 20 point 2): the address rules, pure. Every special-purpose
range is refused, also when spelled as IPv6 (IPv4-mapped, NAT64, 6to4, Teredo); the local
stack allows loopback only; an operator's allow-list opens named networks."""

from __future__ import annotations

import ipaddress

import pytest

from cowork.notifications.addresses import AddressPolicy, address_allowed, url_problem

PRODUCTION = AddressPolicy()
LOCAL = AddressPolicy(local=True)

FORBIDDEN = [
    "0.0.0.0",  # noqa: S104 - an address refused, not bound
    "10.1.2.3", "100.64.0.1", "127.0.0.1", "127.8.9.10", "169.254.169.254",
    "172.16.0.1", "172.31.255.254", "192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.1.1",
    "198.18.0.1", "198.51.100.1", "203.0.113.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
    "255.255.255.255",
    "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "100::1", "2001:db8::1", "fc00::1", "fd12:3456::1",
    "fe80::1", "ff02::1", "2002:7f00:1::1", "2002:a00:1::", "2002:a9fe:a9fe::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8",
           "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_special_purpose_addresses_are_refused(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), PRODUCTION)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), PRODUCTION)


def test_the_local_stack_allows_loopback_and_nothing_else_private() -> None:
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert address_allowed(ipaddress.ip_address(address), LOCAL), address
    for address in ("10.0.0.1", "169.254.169.254", "192.168.1.1", "fe80::1", "100.64.0.1",
                    "::ffff:169.254.169.254"):
        assert not address_allowed(ipaddress.ip_address(address), LOCAL), address


def test_an_allow_list_opens_only_the_networks_it_names() -> None:
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    assert address_allowed(ipaddress.ip_address("10.20.1.1"), policy)
    assert address_allowed(ipaddress.ip_address("::ffff:10.20.1.1"), policy)
    assert not address_allowed(ipaddress.ip_address("10.21.0.1"), policy)
    assert not address_allowed(ipaddress.ip_address("127.0.0.1"), policy)


@pytest.mark.parametrize(("url", "local", "problem"), [
    ("http://partner.example/hook", False, "https"),
    ("https://user:pass@partner.example/hook", False, "credentials"),
    ("http://user@127.0.0.1:8001/", True, "credentials"),
    ("https://127.0.0.1:5432/", False, "address"),
    ("https://[::1]:5432/", False, "address"),
    ("http://169.254.169.254/latest/meta-data/", True, "address"),
    ("http://10.0.0.7/", True, "address"),
])
def test_urls_refused_at_subscription(url: str, local: bool, problem: str) -> None:
    found = url_problem(url, AddressPolicy(local=local))
    assert found is not None and problem in found, found


@pytest.mark.parametrize(("url", "local"), [
    ("https://partner.example/hook", False), ("http://127.0.0.1:9000/hook", True),
    ("http://localhost:9000/hook", True), ("https://93.184.216.34/hook", False)])
def test_urls_accepted_at_subscription(url: str, local: bool) -> None:
    assert url_problem(url, AddressPolicy(local=local)) is None


# Attack (hostile partner): IPv6 spellings of an internal IPv4 address that are neither
# IPv4-mapped nor NAT64/6to4/Teredo. `::7f00:1` is the deprecated IPv4-compatible form of
# 127.0.0.1 (::/96, tunnelled to the IPv4 host by a `sit` interface) and `::ffff:0:a00:1` the
# IPv4-translated form of 10.0.0.1 (::ffff:0:0/96, RFC 2765 SIIT: a stateless translator turns
# it into the IPv4 address). Both lie in the IETF-reserved ::/8; here a connection to the
# translated form leaves through the default IPv6 route. Also the newer special-purpose ranges
# 3fff::/20 (documentation, RFC 9637) and 5f00::/16 (SRv6 SIDs, RFC 9602).
@pytest.mark.parametrize("address", [
    "::7f00:1", "::a00:1", "::a9fe:a9fe", "::ffff:0:7f00:1", "::ffff:0:a00:1",
    "::ffff:0:a9fe:a9fe", "3fff::1", "5f00::1"])
def test_ipv4_compatible_and_translated_forms_are_refused(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), PRODUCTION)
    assert not address_allowed(ipaddress.ip_address(address), LOCAL)
