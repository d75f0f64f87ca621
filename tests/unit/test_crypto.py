"""Encryption at rest: no plaintext in the database, logs or broker; key rotation; the blind index."""

from __future__ import annotations

import base64
import contextlib
import logging
import re
from pathlib import Path

import dramatiq
import pytest
from sqlalchemy import select

from leadcapture import create_app
from leadcapture.consent.people import find_person
from leadcapture.crypto import DecryptionError, Vault
from leadcapture.models import Person, Submission
from leadcapture.privacy import keyrotation as keys
from tests.support.app import Runner, form_token, path_of, submit, text_part
from tests.support.ledger import seal_and_verify
from tests.support.people import confirmed_person

pytestmark = pytest.mark.usefixtures("demo_form")

SECRETS = ("geheim.adres@example.com", "Gerrit Geheimzinnig", "Geheim Bedrijf BV", "Mozilla/5.0 SecretAgent")


@contextlib.contextmanager
def other_app(test_app, config, **overrides):
    """A second app on the same database with other key settings (as after a config change)."""
    from workers.broker import setup

    app = create_app({**config, **overrides})
    try:
        yield app
    finally:
        app.extensions["leadcapture"].db.dispose()
        setup(test_app.extensions["leadcapture"])  # the test's app runs the actors again


def database_bytes(services) -> bytes:
    path = Path(services.db.url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # the db, -wal, -shm


def test_no_plaintext_in_the_database_logs_or_broker(client, worker, mailbox, services, runner, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    broker = dramatiq.get_broker()
    sent: list[dramatiq.Message] = []
    original = broker.enqueue

    def spy(message, *, delay=None):
        sent.append(message)
        return original(message, delay=delay)

    broker.enqueue = spy
    try:
        email, name, company, agent = SECRETS
        data = {"name": name, "company": company}
        client.post(
            "/f/sales-machine",
            data={"csrf_token": form_token(client), "email": email, "purpose_newsletter": "y", **data},
            headers={"User-Agent": agent},
        )
        worker.drain()
        link = re.search(r"bevestigen:\s*(\S+)", text_part(mailbox.to(email)[-1])).group(1)
        client.post(path_of(link), headers={"User-Agent": agent})
        worker.drain()
        assert runner.invoke(["ledger", "seal"]).exit_code == 0
        assert runner.invoke(["ledger", "verify"]).exit_code == 0
    finally:
        broker.enqueue = original
    assert mailbox.to(email), "the flow really ran"
    with services.db.session() as session:
        person = find_person(session, services.vault, email)
        assert services.vault.decrypt(person.name_enc) == name
        assert services.vault.decrypt(session.scalar(select(Submission.user_agent_enc))) == agent
    raw = database_bytes(services)
    logs = caplog.text + "".join(capsys.readouterr())
    # Actors take ids (and a purpose key, which is configuration, not personal data).
    purpose_keys = {"newsletter", "product_news", "call"}
    assert sent and all(isinstance(a, int) or a in purpose_keys for m in sent for a in m.args), [m.args for m in sent]
    broker_bytes = b"".join(m.encode() for m in sent)
    for secret in SECRETS:
        for variant in {secret, secret.lower(), secret.upper()}:
            assert variant.encode() not in raw, f"{variant!r} in the database file"
            assert variant not in logs, f"{variant!r} in the logs"
            assert variant.encode() not in broker_bytes, f"{variant!r} in a broker message"


def test_rotation_re_encrypts_everything_and_is_resumable(client, worker, mailbox, services, config):
    confirmed_person(client, worker, mailbox)
    submit(client, "pending@example.com", ["call"], name="Piet")
    worker.drain()
    old_key = config["DATA_KEY"]
    new_key = base64.urlsafe_b64encode(b"n" * 32).decode()
    with other_app(client.application, config, DATA_KEY=f"{new_key},{old_key}") as app2:
        core2 = app2.extensions["leadcapture"]
        with core2.db.session() as session:
            before = keys.pending(session, core2.vault)
        assert before["people"] == 2 and before["submissions"] == 2 and before["ledger_events"] == 5
        progress: list[int] = []
        rewritten = keys.rotate(core2.db, core2.vault, batch=2, progress=progress.append)
        assert rewritten["people"] == 5  # email, name, company, phone of Jan; email of the pending one
        assert sum(progress) == sum(before.values()) and max(progress) <= 2
        with core2.db.session() as session:
            assert sum(keys.pending(session, core2.vault).values()) == 0
            # The blind index did not change: lookups work with the new key list.
            assert core2.vault.decrypt(find_person(session, core2.vault, "jan@example.com").name_enc) == "Jan Jansen"
        assert sum(keys.rotate(core2.db, core2.vault).values()) == 0  # running again changes nothing
        chain = seal_and_verify(core2)
        assert (chain.sealed, chain.problems) == (5, [])
    # Only the new key is needed now, once the index key is pinned.
    pinned = base64.urlsafe_b64encode(services.vault.index_key).decode()
    with other_app(client.application, config, DATA_KEY=new_key, INDEX_KEY=pinned) as app3:
        core3 = app3.extensions["leadcapture"]
        with core3.db.session() as session:
            keys.check_index_key(session, core3.vault)
            person = find_person(session, core3.vault, "jan@example.com")
            assert core3.vault.decrypt(person.company_enc) == "Jansen BV"


def test_a_changed_index_key_is_refused_not_silently_used(services, config, runner, tmp_path):
    with services.db.session() as session:
        keys.check_index_key(session, services.vault)
    other = base64.urlsafe_b64encode(b"x" * 32).decode()
    with other_app(runner.app, config, DATA_KEY=other) as app2:
        result = Runner(app2).invoke(["keys", "rotate"])
    assert result.exit_code == 1 and "blind index of this database was made with key" in result.output


def test_a_rotation_racing_a_write_never_overwrites_it(client, worker, mailbox, services, config):
    confirmed_person(client, worker, mailbox)
    new_key = base64.urlsafe_b64encode(b"n" * 32).decode()
    with other_app(client.application, config, DATA_KEY=f"{new_key},{config['DATA_KEY']}") as app2:
        core2 = app2.extensions["leadcapture"]
        table = next(t for t in keys.encrypted_tables() if t.table.name == "people")
        with core2.db.session() as session:
            row = session.execute(select(table.key, *table.columns)).first()
        with services.db.session() as session:  # the person changes their name meanwhile
            session.scalar(select(Person)).name_enc = services.vault.encrypt("Jan Nieuw")
        with core2.db.session() as session:
            assert keys._rewrite(session, core2.vault, table, [row]) == 0
        with core2.db.session() as session:
            assert core2.vault.decrypt(session.scalar(select(Person.name_enc))) == "Jan Nieuw"


def test_a_ciphertext_with_one_flipped_bit_is_a_decryption_error():
    # Given a value encrypted under a configured key
    vault = Vault([b"k" * 32])
    prefix, kid, body = vault.encrypt("Jan Jansen").split(":", 2)
    raw = bytearray(base64.urlsafe_b64decode(body))
    # When one bit of the sealed part changes
    raw[-1] ^= 0x01
    tampered = f"{prefix}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    # Then decrypting it raises our own error, never the cipher library's
    with pytest.raises(DecryptionError, match="fails authentication"):
        vault.decrypt(tampered)
