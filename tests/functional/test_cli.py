"""The console script as an operator uses it: exit codes and messages."""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
import subprocess
import sys

import pytest

from leadcapture import create_app
from tests.support.app import DEMO_FORM, ROOT, submit
from tests.support.cli import leadcapture
from tests.support.mail import free_port


def submissions_in_var(tmp_path, count: int) -> sqlite3.Connection:
    """A database under var/ with `count` submissions of two purposes each (two ledger events each)."""
    assert leadcapture(tmp_path, "db", "upgrade").returncode == 0
    assert leadcapture(tmp_path, "forms", "import", str(DEMO_FORM)).returncode == 0
    app = create_app({"VAR_DIR": str(tmp_path / "var"), "MIN_FILL_SECONDS": 0, "TESTING": True})
    client = app.test_client()
    for n in range(count):
        assert submit(client, f"p{n}@example.com", ["newsletter", "call"]).status_code == 200
    app.extensions["leadcapture"].db.dispose()
    return sqlite3.connect(tmp_path / "var" / "leadcapture.db")


def test_ledger_verify_passes_then_fails_after_an_edit(tmp_path):
    submissions_in_var(tmp_path, 3).close()
    ok = leadcapture(tmp_path, "ledger", "verify")
    assert ok.returncode == 0 and "ledger OK: 6 events" in ok.stdout
    with sqlite3.connect(tmp_path / "var" / "leadcapture.db") as conn:
        conn.execute("UPDATE ledger_events SET purpose_key='newsletter' WHERE seq=4")
    broken = leadcapture(tmp_path, "ledger", "verify")
    assert broken.returncode == 1
    assert "BROKEN at event 4" in broken.stderr


def test_ledger_verify_names_the_event_whose_payload_has_one_flipped_bit(tmp_path):
    # Given an intact ledger
    with contextlib.closing(submissions_in_var(tmp_path, 2)) as conn, conn:
        # When one bit of event 3's encrypted payload is flipped (its key id stays valid)
        token = conn.execute("SELECT payload_enc FROM ledger_events WHERE seq=3").fetchone()[0]
        prefix, kid, body = token.split(":", 2)
        raw = bytearray(base64.urlsafe_b64decode(body))
        raw[20] ^= 0x01
        flipped = f"{prefix}:{kid}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
        conn.execute("UPDATE ledger_events SET payload_enc=? WHERE seq=3", (flipped,))
    result = leadcapture(tmp_path, "ledger", "verify")
    # Then verify names it in one line and exits 1, without a traceback
    assert result.returncode == 1
    assert "ledger BROKEN at event 3: payload unreadable" in result.stderr
    assert "2 events before it are intact" in result.stderr
    assert "Traceback" not in result.stderr


def test_ledger_verify_names_the_event_whose_time_no_longer_parses(tmp_path):
    with contextlib.closing(submissions_in_var(tmp_path, 1)) as conn, conn:
        conn.execute("UPDATE ledger_events SET occurred_at='yesterday' WHERE seq=2")
    result = leadcapture(tmp_path, "ledger", "verify")
    assert result.returncode == 1
    assert "ledger BROKEN at event 2: " in result.stderr
    assert "Traceback" not in result.stderr


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


def test_serve_points_links_in_dev_mail_at_itself(tmp_path):
    # Given no LEADCAPTURE_BASE_URL
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LEADCAPTURE_BASE_URL"}
    env |= {"LEADCAPTURE_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"}
    # When the embedded server starts
    command = [sys.executable, "-m", "leadcapture.cli", "serve", "--port", str(port)]
    with subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as server:
        try:
            banner = server.stdout.readline()
            while banner and not banner.startswith("leadcapture on"):
                banner = server.stdout.readline()
            rest = [server.stdout.readline() for _ in range(5)]
            # and a command runs from another shell
            imported = leadcapture(tmp_path, "forms", "import", str(DEMO_FORM))
        finally:
            server.terminate()
    # Then it says that links in mail lead to it, and where the admin and its first account are
    assert banner.strip() == f"leadcapture on http://127.0.0.1:{port} (links in emails use http://127.0.0.1:{port})"
    assert f"  admin:             http://127.0.0.1:{port}/admin/\n" in rest
    assert "  first account:     leadcapture users create you@example.com --role admin\n" in rest
    # and the other command's links lead to the running server, not the default port
    assert f"hosted form: http://127.0.0.1:{port}/f/sales-machine" in imported.stdout
