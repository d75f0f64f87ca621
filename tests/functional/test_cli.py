"""The console script as an operator uses it: exit codes and messages."""

from __future__ import annotations

import sqlite3

import pytest

from tests.support.app import DEMO_FORM, submit
from tests.support.cli import leadcapture


def test_ledger_verify_passes_then_fails_after_an_edit(tmp_path):
    assert leadcapture(tmp_path, "db", "upgrade").returncode == 0
    assert leadcapture(tmp_path, "forms", "import", str(DEMO_FORM)).returncode == 0
    from leadcapture import create_app

    app = create_app({"VAR_DIR": str(tmp_path / "var"), "MIN_FILL_SECONDS": 0, "TESTING": True})
    client = app.test_client()
    for n in range(3):
        assert submit(client, f"p{n}@example.com", ["newsletter", "call"]).status_code == 200
    app.extensions["leadcapture"].db.dispose()
    ok = leadcapture(tmp_path, "ledger", "verify")
    assert ok.returncode == 0 and "ledger OK: 6 events" in ok.stdout
    with sqlite3.connect(tmp_path / "var" / "leadcapture.db") as conn:
        conn.execute("UPDATE ledger_events SET purpose_key='newsletter' WHERE seq=4")
    broken = leadcapture(tmp_path, "ledger", "verify")
    assert broken.returncode == 1
    assert "BROKEN at event 4" in broken.stderr


def test_production_refuses_to_start_without_secrets(tmp_path):
    result = leadcapture(tmp_path, "ledger", "verify", env={"LEADCAPTURE_ENV": "production"})
    assert result.returncode == 1
    assert "LEADCAPTURE_SECRET_KEY must be set" in result.stderr
    assert "Traceback" not in result.stderr


def test_development_keeps_generated_secrets_under_var(tmp_path):
    assert leadcapture(tmp_path, "db", "upgrade").returncode == 0
    key = (tmp_path / "var" / "secret_key").read_text()
    assert leadcapture(tmp_path, "db", "upgrade").returncode == 0
    assert (tmp_path / "var" / "secret_key").read_text() == key
    assert oct((tmp_path / "var" / "secret_key").stat().st_mode)[-3:] == "600"


@pytest.mark.parametrize("value", ["notanumber", "12x"])
def test_a_malformed_number_setting_is_a_clear_error(tmp_path, value):
    result = leadcapture(tmp_path, "db", "upgrade", env={"LEADCAPTURE_CONFIRM_MAX_AGE": value})
    assert result.returncode == 1 and "must be a whole number" in result.stderr


def test_worker_refuses_to_run_without_a_broker(tmp_path):
    result = leadcapture(tmp_path, "worker")
    assert result.returncode == 1 and "LEADCAPTURE_BROKER_URL is empty" in result.stderr


def test_an_unknown_broker_scheme_is_a_clear_error(tmp_path):
    result = leadcapture(tmp_path, "db", "upgrade", env={"LEADCAPTURE_BROKER_URL": "kafka://x"})
    assert result.returncode == 1 and "LEADCAPTURE_BROKER_URL must start with" in result.stderr
