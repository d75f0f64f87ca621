"""DKIM signing of outgoing mail and the shared messages-per-second throttle."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import time
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from leadcapture import create_app
from leadcapture.delivery.throttle import LocalThrottle, RedisThrottle, make_throttle, relay_key
from leadcapture.settings import ConfigError, load_settings
from tests.support.app import make_config, submit
from tests.support.mail import free_port


@pytest.fixture(scope="module")
def keypair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_der)


def dns_for(txt: bytes):
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return txt if name == b"mail2026._domainkey.voorbeeld.nl." else b""

    return lookup


def signed_app(tmp_path, migrated_db, **dkim_settings):
    shutil.copy(migrated_db, tmp_path / "test.db")
    return create_app(make_config(tmp_path, **dkim_settings))


def test_every_message_is_signed_and_h_covers_the_one_click_headers(tmp_path, migrated_db, keypair, dramatiq_worker):
    pem, txt = keypair
    (tmp_path / "dkim.pem").write_text(pem)
    app = signed_app(
        tmp_path,
        migrated_db,
        DKIM_SELECTOR="mail2026",
        DKIM_DOMAIN="voorbeeld.nl",
        DKIM_PRIVATE_KEY_FILE=str(tmp_path / "dkim.pem"),
    )
    from leadcapture.consent.formdefs import load_toml, save
    from tests.support.app import DEMO_FORM, Drainer

    services = app.extensions["leadcapture"]
    definition, asset = load_toml(DEMO_FORM)
    with services.db.session() as session:
        save(session, definition, asset)
    submit(app.test_client(), "signed@example.com", purposes=["newsletter"])
    Drainer(app, dramatiq_worker).drain()
    files = list((Path(app.config["VAR_DIR"]) / "outbox" / "new").iterdir())
    assert len(files) == 1
    return_path, data = files[0].read_bytes().split(b"\r\n", 1)  # as a delivering MTA stores it
    assert return_path.startswith(b"Return-Path: <bounces+") and return_path.endswith(b"@voorbeeld.nl>")
    assert data.startswith(b"DKIM-Signature:")
    assert dkim.verify(data, dnsfunc=dns_for(txt))
    header = re.search(rb"DKIM-Signature:(.*?)\r\n(?=\S)", data, re.S).group(1)
    signed = {h.strip().lower() for h in re.search(rb"h=([^;]+)", re.sub(rb"\s+", b"", header)).group(1).split(b":")}
    assert {b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe", b"list-unsubscribe-post"} <= signed
    assert b"d=voorbeeld.nl" in header and b"s=mail2026" in header

    tampered = data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nothing")
    assert not dkim.verify(tampered, dnsfunc=dns_for(txt))
    app.extensions["leadcapture"].db.dispose()


def test_dkim_settings_must_come_together(tmp_path, migrated_db, keypair):
    with pytest.raises(ConfigError, match="DKIM signing needs"):
        signed_app(tmp_path, migrated_db, DKIM_SELECTOR="mail2026")
    with pytest.raises(ConfigError, match="PEM private key"):
        signed_app(tmp_path, migrated_db, DKIM_SELECTOR="s", DKIM_DOMAIN="d.nl", DKIM_PRIVATE_KEY="not a key")


def test_the_local_throttle_spaces_messages_at_the_configured_rate():
    throttle = LocalThrottle(rate=100, burst=5)
    waits = [throttle.reserve() for _ in range(10)]
    assert waits[:5] == [0.0] * 5  # the burst goes at once
    # then one slot every 10 ms: each reservation waits longer than the one before
    assert all(later > earlier for earlier, later in zip(waits[5:], waits[6:], strict=False))
    assert waits[-1] == pytest.approx(0.05, abs=0.01)


def test_throttle_settings_are_checked(tmp_path):
    def settings(**kw):
        return load_settings(make_config(tmp_path, **kw))

    assert type(make_throttle(settings(SEND_RATE=0))).__name__ == "Unlimited"
    assert isinstance(make_throttle(settings(SEND_RATE="50", BROKER_URL="")), LocalThrottle)
    with pytest.raises(ConfigError):
        settings(SEND_RATE="fast")
    key = relay_key(settings(MAIL_URL="smtp://relay.example.net:587", MAIL_FROM="Voorbeeld <hallo@Voorbeeld.nl>"))
    assert key == "relay.example.net:587|voorbeeld.nl"


@pytest.fixture(scope="module")
def redis_url():
    """A private redis-server on a free port (the shared one is left alone)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def test_the_redis_throttle_is_shared_by_every_process(redis_url, tmp_path):
    config = {"SEND_RATE": 10, "SEND_BURST": 1, "REDIS_URL": redis_url, "REDIS_PREFIX": "lc-test:"}
    settings = load_settings(make_config(tmp_path, **config, MAIL_URL="", MAIL_FROM="hallo@voorbeeld.nl"))
    one, two = make_throttle(settings), make_throttle(settings)  # as two worker processes would
    assert isinstance(one, RedisThrottle) and one.key == two.key == "lc-test:throttle:outbox|voorbeeld.nl"
    waits = [one.reserve(), two.reserve(), one.reserve(), two.reserve()]
    assert waits[0] == 0
    assert all(later > earlier for earlier, later in zip(waits, waits[1:], strict=False))
    assert waits[-1] == pytest.approx(0.3, abs=0.05)  # 10 per second: slots 100 ms apart, shared
