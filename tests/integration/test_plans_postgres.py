"""Reads on the hot path read their rows only, through indexes, however many rows the tables hold (PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Select, text

from leadcapture import create_app
from leadcapture.consent import window
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.delivery import confirmation
from tests.support.app import DEMO_FORM, make_config
from tests.support.submissions import a_submission


def rows_read(conn, stmt: Select, params: dict, table: str) -> int:
    """How many rows of table running stmt reads (EXPLAIN ANALYZE), planned as if every table were large."""
    compiled = stmt.compile(dialect=conn.dialect)
    conn.execute(text("SET LOCAL enable_seqscan = off"))  # small test tables must not make a scan the cheap plan
    sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled)
    plan = conn.exec_driver_sql(sql, compiled.construct_params(params)).scalar()

    def read(node: dict) -> int:
        own = 0
        if node.get("Relation Name") == table:
            own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        return own + sum(read(child) for child in node.get("Plans", []))

    return read((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])


@pytest.mark.parametrize(
    "stmt",
    [confirmation._LOAD, window._LISTED],
    ids=["the confirmation job's load", "what a mail lists"],
)
def test_what_a_confirmation_mail_lists_is_read_through_indexes(tmp_path, pg_url, stmt):
    services = create_app(make_config(tmp_path, DATABASE_URL=pg_url)).extensions["leadcapture"]
    with services.db.session() as session:
        save(session, *load_toml(DEMO_FORM))
    for n in range(100):
        a_submission(services, email=f"visitor{n}@example.com")
    submission_id = a_submission(services, purposes=("newsletter",))  # two requests of 102
    with services.db.engine.begin() as conn:
        assert rows_read(conn, stmt, {"b_id": submission_id}, "requests") == 2
    services.db.dispose()
