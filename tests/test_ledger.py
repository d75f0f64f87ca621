from sqlalchemy import select, text

from leadcapture import ledger
from leadcapture.models import LedgerEvent


def append(core, n=3):
    with core.db.session() as session:
        for i in range(n):
            ledger.append(
                session,
                core.vault,
                event="requested",
                method="form",
                person_id=1,
                purpose_key=f"p{i}",
                payload={"label": f"label {i}", "ip": "192.0.2.0"},
            )


def verify(core):
    with core.db.session() as session:
        return ledger.verify(session, core.vault)


def raw(core, statement, **params):
    """Run SQL behind the app's back (any database), as an intruder with table access would."""
    with core.db.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return result.fetchall() if result.returns_rows else None


def test_an_untouched_chain_verifies(core):
    append(core, 5)
    assert verify(core) == (5, None)


def test_events_are_chained(core):
    append(core, 3)
    with core.db.session() as session:
        events = session.scalars(select(LedgerEvent).order_by(LedgerEvent.seq)).all()
    assert events[0].prev_hash == ledger.GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


def test_an_edited_header_is_detected(core):
    append(core, 3)
    raw(core, "UPDATE ledger_events SET event='withdrawn' WHERE seq=2")
    count, problem = verify(core)
    assert (count, problem.seq) == (1, 2)


def test_an_edited_payload_is_detected(core):
    append(core, 3)
    with core.db.session() as session:
        other = session.get(LedgerEvent, 1).payload_enc
    raw(core, "UPDATE ledger_events SET payload_enc=:other WHERE seq=3", other=other)
    assert verify(core)[1].seq == 3


def test_a_deleted_event_is_detected(core):
    append(core, 3)
    raw(core, "DELETE FROM ledger_events WHERE seq=2")
    assert verify(core)[1].seq == 2


def test_a_deleted_last_event_is_detected(core):
    append(core, 3)
    raw(core, "DELETE FROM ledger_events WHERE seq=3")
    assert verify(core)[1].seq == 3


def test_erased_payloads_keep_the_chain_verifiable(core):
    append(core, 3)
    with core.db.session() as session:
        assert ledger.erase_payloads(session, person_id=1) == 3
    assert verify(core) == (3, None)


def test_payloads_are_encrypted_at_rest(core):
    append(core, 1)
    ((stored,),) = raw(core, "SELECT payload_enc FROM ledger_events")
    assert "192.0.2.0" not in stored and "label" not in stored
