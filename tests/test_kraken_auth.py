"""Kraken signing against the published example, and the nonce source's ordering guarantees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.kraken.auth import NonceSource, nonce_source, sign

VECTORS = json.loads((Path(__file__).parent / "data" / "kraken" / "kraken-docs-vectors.json").read_text())


def test_sign_reproduces_krakens_published_example():
    v = VECTORS["rest_sign_official"]
    got = sign(v["uri_path"], v["nonce"], v["postdata"], v["secret_b64"])
    assert got == v["expected_api_sign"]


def test_sign_depends_on_every_input():
    v = VECTORS["rest_sign_official"]
    base = sign(v["uri_path"], v["nonce"], v["postdata"], v["secret_b64"])
    assert sign("/0/private/CancelOrder", v["nonce"], v["postdata"], v["secret_b64"]) != base
    assert sign(v["uri_path"], "1616492376595", v["postdata"], v["secret_b64"]) != base
    assert sign(v["uri_path"], v["nonce"], v["postdata"] + "&validate=true", v["secret_b64"]) != base


def test_sign_rejects_bad_secret_without_echoing_it():
    with pytest.raises(ValueError) as info:
        sign("/0/private/Balance", "1", "nonce=1", "not base64 !!")
    assert "not base64 !!" not in str(info.value)


def test_nonce_never_goes_back_when_the_clock_steps_back():
    clock = iter([1000.0, 1000.0, 999.0, 500.0, 1001.5])
    src = NonceSource(clock=lambda: next(clock))
    got = [int(src.next()) for _ in range(5)]
    assert got == [1000000, 1000001, 1000002, 1000003, 1001500]


def test_nonce_source_is_shared_per_key():
    assert nonce_source("key-a") is nonce_source("key-a")
    assert nonce_source("key-a") is not nonce_source("key-b")
