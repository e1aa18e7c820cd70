"""The webhook signature as plain function calls: what the e-shop computes, what we accept."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from connector.web import SignatureError, sign, verify

BODY = b'{"event_id":"e1","type":"customer.created","customer_id":"1041"}'
NOW = 1_700_000_000


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", BODY, NOW) == f"t=1700000000,v1={expected}"


def test_verify_accepts_any_active_secret_and_any_v1() -> None:
    header = sign("old", BODY, NOW)
    verify(header, BODY, ["new", "old"], now=NOW)
    # A sender signing with both secrets during a rotation: two v1 values.
    both = header + ",v1=" + sign("new", BODY, NOW).split("v1=")[1]
    verify(both, BODY, ["new"], now=NOW)


def test_unknown_schemes_beside_v1_are_ignored() -> None:
    verify(sign("k", BODY, NOW) + ",v0=whatever", BODY, ["k"], now=NOW)


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_tolerance_is_300_seconds_both_ways(offset: int, ok: bool) -> None:
    header = sign("k", BODY, NOW + offset)
    if ok:
        verify(header, BODY, ["k"], now=NOW)
    else:
        with pytest.raises(SignatureError) as caught:
            verify(header, BODY, ["k"], now=NOW)
        assert caught.value.code == "timestamp_out_of_tolerance"


def test_no_secret_configured_accepts_nothing() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(sign("k", BODY, NOW), BODY, [], now=NOW)
    assert caught.value.code == "signature_mismatch"
