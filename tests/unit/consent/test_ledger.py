from sqlalchemy import select, text

from leadcapture.consent import ledger
from leadcapture.models import LedgerEvent


def append(services, n=3):
    with services.db.session() as session:
        for i in range(n):
            ledger.append(
                session,
                services.vault,
                event="requested",
                method="form",
                person_id=1,
                purpose_key=f"p{i}",
                payload={"label": f"label {i}", "ip": "192.0.2.0"},
            )


def verify(services):
    with services.db.session() as session:
        return ledger.verify(session, services.vault)


def raw(services, statement, **params):
    """Run SQL behind the app's back (any database), as an intruder with table access would."""
    with services.db.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return result.fetchall() if result.returns_rows else None


def test_an_untouched_chain_verifies(services):
    append(services, 5)
    assert verify(services) == (5, None)


def test_events_are_chained(services):
    append(services, 3)
    with services.db.session() as session:
        events = session.scalars(select(LedgerEvent).order_by(LedgerEvent.seq)).all()
    assert events[0].prev_hash == ledger.GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


def test_an_edited_header_is_detected(services):
    append(services, 3)
    raw(services, "UPDATE ledger_events SET event='withdrawn' WHERE seq=2")
    count, problem = verify(services)
    assert (count, problem.seq) == (1, 2)


def test_an_edited_payload_is_detected(services):
    append(services, 3)
    with services.db.session() as session:
        other = session.get(LedgerEvent, 1).payload_enc
    raw(services, "UPDATE ledger_events SET payload_enc=:other WHERE seq=3", other=other)
    assert verify(services)[1].seq == 3


def test_a_deleted_event_is_detected(services):
    append(services, 3)
    raw(services, "DELETE FROM ledger_events WHERE seq=2")
    assert verify(services)[1].seq == 2


def test_a_deleted_last_event_is_detected(services):
    append(services, 3)
    raw(services, "DELETE FROM ledger_events WHERE seq=3")
    assert verify(services)[1].seq == 3


def test_erased_payloads_keep_the_chain_verifiable(services):
    append(services, 3)
    with services.db.session() as session:
        assert ledger.erase_payloads(session, person_id=1) == 3
    assert verify(services) == (3, None)


def test_payloads_are_encrypted_at_rest(services):
    append(services, 1)
    ((stored,),) = raw(services, "SELECT payload_enc FROM ledger_events")
    assert "192.0.2.0" not in stored and "label" not in stored
