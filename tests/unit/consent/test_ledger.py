"""The consent ledger: appends, the sealer, keyed verification, every kind of corruption, anchors, key rotation."""

import base64
import dataclasses
import hashlib
import json

from sqlalchemy import select, text

from leadcapture.consent import ledger
from leadcapture.consent.ledger_verify import Problem, check_anchor, make_anchor
from leadcapture.consent.ledger_verify import verify as verify_chain
from leadcapture.models import LedgerEvent, LedgerHead

OTHER_KEY = b"o" * 32


def append(services, n=3, person_id=1):
    with services.db.session() as session:
        for i in range(n):
            ledger.append(
                session,
                services.vault,
                event="requested",
                method="form",
                person_id=person_id,
                purpose_key=f"p{i}",
                payload={"label": f"label {i}", "ip": "192.0.2.0"},
            )


def keyring(services, *keys):
    return ledger.Keyring(list(keys) or services.settings.ledger_keys)


def seal(services, ring=None):
    with services.db.session() as session:
        return ledger.seal(session, ring or keyring(services))


def sealed(services, n=3):
    append(services, n)
    assert seal(services) == n


def report(services, ring=None):
    with services.db.session() as session:
        return verify_chain(session, services.vault, ring or keyring(services))


def problems(services, ring=None):
    return [str(p) for p in report(services, ring).problems]


def raw(services, statement, **params):
    """Run SQL behind the app's back (any database), as an intruder with table access would."""
    with services.db.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return result.fetchall() if result.returns_rows else None


# --- appending and sealing ---


def test_an_untouched_sealed_chain_verifies(services):
    sealed(services, 5)
    result = report(services)
    assert (result.sealed, result.problems, result.unsealed) == (5, [], 0)


def test_appended_events_wait_unsealed_and_verify_reports_them(services):
    append(services, 2)
    result = report(services)
    assert (result.sealed, result.problems, result.unsealed) == (0, [], 2)
    assert result.oldest_unsealed is not None


def test_events_are_chained_in_insert_order_with_the_current_key(services):
    sealed(services, 3)
    with services.db.session() as session:
        events = session.scalars(select(LedgerEvent).order_by(LedgerEvent.id)).all()
        head = session.get(LedgerHead, 1)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == ledger.GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert {e.key_id for e in events} == {keyring(services).current_id}
    assert (head.seq, head.hash) == (3, events[-1].hash)


def test_the_sealer_goes_on_from_the_head_in_later_runs(services):
    sealed(services, 2)
    sealed(services, 2)
    assert seal(services) == 0
    assert report(services).sealed == 4 and report(services).ok


def test_an_event_committed_after_a_higher_id_was_sealed_is_chained_at_the_tip(services):
    # Given id 1 committed, and id 3 committed by a transaction that took its id after id 2's
    append(services, 1)
    raw(
        services,
        "INSERT INTO ledger_events (id, recorded_at, occurred_at, event, method, payload_digest) "
        "VALUES (3, '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'requested', 'form', :d)",
        d=hashlib.sha256(b"{}").hexdigest(),
    )
    # When the sealer runs while id 2's transaction is still open
    assert seal(services) == 2
    # and id 2 commits afterwards (the gap fills)
    raw(
        services,
        "INSERT INTO ledger_events (id, recorded_at, occurred_at, event, method, payload_digest) "
        "VALUES (2, '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 'confirmed', 'form', :d)",
        d=hashlib.sha256(b"{}").hexdigest(),
    )
    assert seal(services) == 1
    # Then it is not lost: it is chained after the others, and the whole chain verifies
    with services.db.session() as session:
        order = session.execute(select(LedgerEvent.id, LedgerEvent.seq).order_by(LedgerEvent.seq)).all()
    assert [tuple(row) for row in order] == [(1, 1), (3, 2), (2, 3)]
    assert report(services).ok and report(services).unsealed == 0


def test_append_takes_no_lock_on_the_head(services):
    append(services, 1)
    with services.db.session() as session:
        head = session.get(LedgerHead, 1)
    assert (head.seq, head.hash) == (0, ledger.GENESIS)  # created by the migration, untouched by appends


# --- corruption: each is one "event N: ..." problem, never an exception ---


def test_an_edited_header_is_detected(services):
    sealed(services, 3)
    raw(services, "UPDATE ledger_events SET event='withdrawn' WHERE seq=2")
    assert problems(services) == ["event 2: contents were changed (HMAC mismatch)"]


def test_an_edited_payload_is_detected(services):
    sealed(services, 3)
    with services.db.session() as session:
        other = session.scalar(select(LedgerEvent.payload_enc).where(LedgerEvent.seq == 1))
    raw(services, "UPDATE ledger_events SET payload_enc=:other WHERE seq=3", other=other)
    assert problems(services) == ["event 3: payload was changed (digest mismatch)"]


def test_a_flipped_bit_in_an_encrypted_payload_is_detected(services):
    sealed(services, 2)
    ((token,),) = raw(services, "SELECT payload_enc FROM ledger_events WHERE seq=2")
    prefix, kid, body = token.split(":", 2)
    data = bytearray(base64.urlsafe_b64decode(body))
    data[20] ^= 0x01
    flipped = f"{prefix}:{kid}:{base64.urlsafe_b64encode(bytes(data)).decode()}"
    raw(services, "UPDATE ledger_events SET payload_enc=:t WHERE seq=2", t=flipped)
    (problem,) = problems(services)
    assert problem.startswith("event 2: payload unreadable (ciphertext fails authentication")


def test_unparseable_values_are_named_not_raised(services):
    sealed(services, 4)
    raw(services, "UPDATE ledger_events SET occurred_at='yesterday' WHERE seq=2")
    raw(services, "UPDATE ledger_events SET payload_enc='garbage' WHERE seq=3")
    raw(services, "UPDATE ledger_events SET hash_version=7 WHERE seq=4")
    found = problems(services)
    assert found[0].startswith("event 2: row unreadable")
    assert found[1].startswith("event 3: payload unreadable (malformed ciphertext")
    assert found[2] == "event 4: unknown hash version 7"


def test_a_deleted_event_is_detected(services):
    sealed(services, 3)
    raw(services, "DELETE FROM ledger_events WHERE seq=2")
    assert problems(services) == ["event 2: missing: no event 2 in the chain (deleted, or its seq changed)"]


def test_a_deleted_last_event_is_detected(services):
    sealed(services, 3)
    raw(services, "DELETE FROM ledger_events WHERE seq=3")
    assert problems(services) == ["event 3: missing: the head says the chain has 3 events, 2 are there (truncated)"]


def test_reordered_events_are_detected(services):
    sealed(services, 4)
    raw(services, "UPDATE ledger_events SET seq=99 WHERE seq=2")
    raw(services, "UPDATE ledger_events SET seq=2 WHERE seq=3")
    raw(services, "UPDATE ledger_events SET seq=3 WHERE seq=99")
    found = problems(services)
    assert "event 2: out of order: it was chained after event 3" in found
    assert "event 3: out of order: it was chained after event 1" in found
    assert "event 2: contents were changed (HMAC mismatch)" in found


def test_every_corruption_is_reported_not_only_the_first(services):
    sealed(services, 5)
    raw(services, "UPDATE ledger_events SET purpose_key='x' WHERE seq IN (2, 4)")
    assert [p.split(":")[0] for p in problems(services)] == ["event 2", "event 4"]


def test_erased_payloads_keep_the_chain_verifiable(services):
    sealed(services, 3)
    with services.db.session() as session:
        assert ledger.erase_payloads(session, person_id=1) == 3
    assert report(services).ok


def test_payloads_are_encrypted_at_rest(services):
    append(services, 1)
    ((stored,),) = raw(services, "SELECT payload_enc FROM ledger_events")
    assert "192.0.2.0" not in stored and "label" not in stored


# --- the key ---


def test_a_chain_recomputed_without_the_key_does_not_verify(services):
    # Given an intruder who rewrites an event and recomputes its hash with another key
    sealed(services, 2)
    forged = keyring(services, OTHER_KEY)
    with services.db.session() as session:
        ev = session.scalar(select(LedgerEvent).where(LedgerEvent.seq == 2))
        ev.purpose_key, ev.key_id = "forged", keyring(services).current_id
        forged._keys[ev.key_id] = OTHER_KEY  # a guess at the key, under the real key's id
        ev.hash = ledger.event_hash(ev, forged)
        session.get(LedgerHead, 1).hash = ev.hash
    assert problems(services) == ["event 2: contents were changed (HMAC mismatch)"]


def test_verify_with_a_wrong_key_names_the_unknown_key(services):
    sealed(services, 2)
    found = problems(services, keyring(services, OTHER_KEY))
    current = keyring(services).current_id
    assert found == [
        f"event {n}: chained with ledger key {current!r}, which is not configured (LEDGER_KEY_FALLBACKS?)"
        for n in (1, 2)
    ]


def test_a_rotated_key_keeps_old_events_verifiable_through_the_fallbacks(services):
    # Given events chained with the old key
    old = services.settings.ledger_keys[0]
    sealed(services, 2)
    # When the key is rotated: a new LEDGER_KEY, the old one in LEDGER_KEY_FALLBACKS
    rotated = keyring(services, OTHER_KEY, old)
    append(services, 2)
    assert seal(services, rotated) == 2
    # Then new events carry the new key's id and the whole chain verifies with both
    with services.db.session() as session:
        ids = session.scalars(select(LedgerEvent.key_id).order_by(LedgerEvent.seq)).all()
    assert ids == [ledger.key_id(old)] * 2 + [ledger.key_id(OTHER_KEY)] * 2
    assert report(services, rotated).ok
    # and without the fallback the old events are named
    assert [p.split(":")[0] for p in problems(services, keyring(services, OTHER_KEY))] == ["event 1", "event 2"]


def test_unkeyed_events_from_before_the_key_stay_verifiable(services):
    # Given two events chained the old way (SHA-256, no key), as the migration leaves them
    append(services, 2)
    with services.db.session() as session:
        prev = ledger.GENESIS
        for seq, ev in enumerate(session.scalars(select(LedgerEvent).order_by(LedgerEvent.id)), start=1):
            ev.seq, ev.prev_hash, ev.hash_version = seq, prev, ledger.UNKEYED
            ev.hash = prev = ledger.event_hash(ev, keyring(services))
        head = session.get(LedgerHead, 1)
        head.seq, head.hash = 2, prev
    # When new events are sealed after them
    sealed(services, 2)
    # Then the chain verifies, and an unkeyed hash after the keyed ones is a rewrite
    assert report(services).ok
    raw(services, "UPDATE ledger_events SET hash_version=1 WHERE seq=4")
    assert "event 4: an unkeyed hash after keyed events (the chain was rewritten without the key)" in problems(services)


# --- anchors ---


def anchor(services):
    with services.db.session() as session:
        return make_anchor(session, keyring(services))


def check(services, doc):
    with services.db.session() as session:
        return check_anchor(session, keyring(services), doc)


def test_an_anchor_is_the_signed_head(services):
    sealed(services, 3)
    doc = anchor(services)
    with services.db.session() as session:
        head = session.get(LedgerHead, 1)
    assert (doc["seq"], doc["hash"], doc["key_id"]) == (3, head.hash, keyring(services).current_id)
    assert set(doc) == {"schema", "seq", "hash", "time", "key_id", "signature"}
    assert check(services, doc) is None


def test_an_anchor_still_holds_after_more_events(services):
    sealed(services, 2)
    doc = anchor(services)
    sealed(services, 3)
    assert check(services, doc) is None


def test_an_anchor_detects_truncation_with_the_head_moved_back(services):
    # Given an anchor of 3 events
    sealed(services, 3)
    doc = anchor(services)
    # When an intruder deletes the last event and sets the head back, so the chain itself is consistent
    ((prev,),) = raw(services, "SELECT hash FROM ledger_events WHERE seq=2")
    raw(services, "DELETE FROM ledger_events WHERE seq=3")
    raw(services, "UPDATE ledger_head SET seq=2, hash=:h", h=prev)
    assert report(services).ok
    # Then the anchor names the missing event
    assert check(services, doc) == Problem(3, f"anchored on {doc['time']} but no longer in the chain (truncated)")


def test_an_anchor_detects_a_rewrite_by_someone_with_the_key(services):
    # Given an anchor of 2 events
    sealed(services, 2)
    doc = anchor(services)
    # When the whole chain is rebuilt with the key (an event's content changed, everything re-sealed)
    raw(services, "UPDATE ledger_events SET seq=NULL, prev_hash=NULL, hash=NULL")
    raw(services, "UPDATE ledger_events SET purpose_key='rewritten' WHERE id=1")
    raw(services, "UPDATE ledger_head SET seq=0, hash=:g", g=ledger.GENESIS)
    assert seal(services) == 2 and report(services).ok
    # Then the anchor shows it
    assert check(services, doc) == Problem(2, f"differs from the anchor of {doc['time']} (the chain was rewritten)")


def test_a_changed_or_foreign_anchor_is_refused(services):
    sealed(services, 2)
    doc = anchor(services)
    assert "signature does not match" in check(services, {**doc, "seq": 1})
    assert "not a ledger anchor" in check(services, {"seq": 2})
    assert "not a ledger anchor" in check(services, {**doc, "seq": "2"})
    assert "not a ledger anchor" in check(services, ["x"])
    with services.db.session() as session:
        foreign = check_anchor(session, keyring(services, OTHER_KEY), doc)
    assert "which is not configured" in foreign
    assert json.loads(json.dumps(doc)) == doc


def test_the_ledger_key_comes_from_the_settings(services):
    assert keyring(services).current_id == ledger.key_id(services.settings.ledger_keys[0])
    changed = dataclasses.replace(services.settings, ledger_key=base64.urlsafe_b64encode(OTHER_KEY).decode())
    assert changed.ledger_keys == [OTHER_KEY]
