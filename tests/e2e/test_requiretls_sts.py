"""REQUIRETLS (RFC 8689) against MTA-STS, per recipient domain, with the
namespaces, resolver and policy host of test_mta_sts_delivery.py: an MX
whose certificate matches the policy authenticates the upstream for the
domain; a testing-mode policy that does not match, which lets plain mail
through, refuses a REQUIRETLS recipient with 550 5.7.30."""

import pytest  # noqa: F401

from dnslab import dane_pki  # noqa: F401
from outlib import netns_up  # noqa: F401
from test_dane import MESSAGE, codes, rcpt_seen
from test_mta_sts_delivery import proxy, sts_world, world  # noqa: F401
from test_requiretls import codes10, keywords, send


def test_enforce_match_authenticates(world):
    world.policy_host()
    mx = world.mx(world.pki, cert="mx1", mode="normal,requiretls")
    proxy(world)
    out = send(world, ["b@lab.test"])
    assert "REQUIRETLS" in keywords(out["ehlo"]), out
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert out["eod"][-1].startswith("250"), out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert mx.meta(1)["mail"].endswith(" REQUIRETLS"), mx.meta(1)


def test_testing_mismatch_refuses_requiretls_only(world):
    world.policy_host(b"testing")
    mx = world.mx(world.pki, cert="wrongname", mode="normal,requiretls")
    proxy(world)
    out = send(world, ["b@lab.test"])
    assert codes10(out["replies"]) == ["250 2.1.0", "550 5.7.30"], out
    assert not rcpt_seen(mx, "b@lab.test")
    # The same recipient without REQUIRETLS: testing never refuses.
    out = send(world, ["b@lab.test"], mail="MAIL FROM:<a@sender.example>")
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert mx.wait_closed(min_conns=2)
    assert mx.messages() == [MESSAGE]
