"""The pool on PostgreSQL: a connection in steady use is not pinged, an idle one is, a dead one is replaced."""

from __future__ import annotations

import psycopg
from sqlalchemy import text

from leadcapture import db as db_module
from leadcapture.db import Database
from tests.support.pg import admin_url

from .services import PG_SERVER


def pings_of(db: Database, monkeypatch) -> list[int]:
    seen: list[int] = []
    ping = db.engine.dialect.do_ping

    def counted(dbapi_connection):
        seen.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(db.engine.dialect, "do_ping", counted)
    return seen


def test_a_connection_back_only_a_moment_is_not_pinged_one_left_idle_is(pg_url, monkeypatch):
    db = Database(pg_url, threads=2)
    pings = pings_of(db, monkeypatch)
    for _ in range(5):
        with db.session() as session:
            session.execute(text("SELECT 1"))
    assert pings == []
    monkeypatch.setattr(db_module, "IDLE_PING", 0.0)  # every connection counts as idle now
    with db.session() as session:
        session.execute(text("SELECT 1"))
    assert pings == [1]
    db.dispose()


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(pg_url, monkeypatch):
    db = Database(pg_url, threads=2)
    with db.engine.connect() as conn:
        dropped = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with psycopg.connect(admin_url(PG_SERVER), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (dropped,)).fetchone()[0]
    monkeypatch.setattr(db_module, "IDLE_PING", 0.0)
    with db.session() as session:  # without the ping, this statement would meet the dead connection
        assert session.execute(text("SELECT pg_backend_pid()")).scalar() != dropped
    db.dispose()
