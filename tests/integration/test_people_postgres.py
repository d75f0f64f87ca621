"""People on a real PostgreSQL: one statement finds or adds a person, and two at once add one person."""

from __future__ import annotations

import threading

from sqlalchemy import func, select, text

from leadcapture import create_app
from leadcapture.consent import people
from leadcapture.models import Person
from tests.support.app import make_config

from .services import wait_until

WAITING_ON_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


def test_an_address_added_by_two_transactions_at_once_is_one_person(tmp_path, pg_url):
    # Given a transaction that has added an address and not committed yet
    services = create_app(make_config(tmp_path, DATABASE_URL=pg_url)).extensions["leadcapture"]
    first = services.db.sessionmaker()
    first_id = people.find_or_add(first, services.vault, "jan@example.com", "nl").id
    found: list[int] = []

    def second() -> None:
        with services.db.session() as session:
            found.append(people.find_or_add(session, services.vault, "Jan@Example.com", "nl").id)

    # When another transaction adds the same address meanwhile (its insert waits for the first)
    thread = threading.Thread(target=second)
    thread.start()

    def second_waits() -> bool:
        with services.db.engine.connect() as conn:
            return conn.scalar(text(WAITING_ON_A_LOCK)) > 0

    wait_until(second_waits, 30, what="the second insert to wait for the first transaction")
    first.commit()
    first.close()
    thread.join(30)

    # Then both name the one person the first added
    assert found == [first_id]
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1
    services.db.dispose()
