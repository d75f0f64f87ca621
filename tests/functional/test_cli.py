"""The console script as an operator uses it: exit codes and messages."""

from __future__ import annotations

import base64
import contextlib
import json
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
    """A database under var/ with `count` submissions of two purposes each (two ledger events each), sealed."""
    assert leadcapture(tmp_path, "db", "upgrade").returncode == 0
    assert leadcapture(tmp_path, "forms", "import", str(DEMO_FORM)).returncode == 0
    app = create_app({"VAR_DIR": str(tmp_path / "var"), "MIN_FILL_SECONDS": 0, "TESTING": True})
    client = app.test_client()
    for n in range(count):
        assert submit(client, f"p{n}@example.com", ["newsletter", "call"]).status_code == 200
    app.extensions["leadcapture"].db.dispose()
    sealed = leadcapture(tmp_path, "ledger", "seal")
    assert sealed.returncode == 0 and f"sealed {2 * count} event(s)" in sealed.stdout, sealed.stderr
    return sqlite3.connect(tmp_path / "var" / "leadcapture.db")


def test_ledger_verify_passes_then_fails_after_an_edit(tmp_path):
    submissions_in_var(tmp_path, 3).close()
    ok = leadcapture(tmp_path, "ledger", "verify")
    assert ok.returncode == 0 and "ledger OK: 6 events" in ok.stdout
    with sqlite3.connect(tmp_path / "var" / "leadcapture.db") as conn:
        conn.execute("UPDATE ledger_events SET purpose_key='newsletter' WHERE seq=4")
    broken = leadcapture(tmp_path, "ledger", "verify")
    assert broken.returncode == 1
    assert broken.stderr.splitlines() == [
        "event 4: contents were changed (HMAC mismatch)",
        "ledger BROKEN: 1 problem(s) in 6 sealed events",
    ]


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
    assert result.stderr.startswith("event 3: payload unreadable (ciphertext fails authentication")
    assert "Traceback" not in result.stderr


def test_ledger_verify_names_the_event_whose_time_no_longer_parses(tmp_path):
    with contextlib.closing(submissions_in_var(tmp_path, 1)) as conn, conn:
        conn.execute("UPDATE ledger_events SET occurred_at='yesterday' WHERE seq=2")
    result = leadcapture(tmp_path, "ledger", "verify")
    assert result.returncode == 1
    assert result.stderr.startswith("event 2: row unreadable")
    assert "Traceback" not in result.stderr


def test_ledger_verify_reports_the_unsealed_tail(tmp_path):
    submissions_in_var(tmp_path, 1).close()
    app = create_app({"VAR_DIR": str(tmp_path / "var"), "MIN_FILL_SECONDS": 0, "TESTING": True})
    assert submit(app.test_client(), "late@example.com", ["newsletter"]).status_code == 200
    app.extensions["leadcapture"].db.dispose()
    result = leadcapture(tmp_path, "ledger", "verify")
    assert result.returncode == 0
    assert "not sealed yet: 1 event(s), the oldest" in result.stdout
    assert "ledger OK: 2 events, chain intact" in result.stdout


def test_an_anchor_kept_outside_proves_a_truncation(tmp_path):
    # Given an anchor taken of 4 sealed events and kept outside the system
    conn = submissions_in_var(tmp_path, 2)
    anchored = leadcapture(tmp_path, "ledger", "anchor")
    assert anchored.returncode == 0
    kept = tmp_path / "anchor-1.json"
    kept.write_text(anchored.stdout)
    assert json.loads(anchored.stdout)["seq"] == 4
    assert leadcapture(tmp_path, "ledger", "verify", "--anchor", str(kept)).returncode == 0
    # When someone with database access deletes the last two events and moves the head back
    with contextlib.closing(conn), conn:
        (prev,) = conn.execute("SELECT hash FROM ledger_events WHERE seq=2").fetchone()
        conn.execute("DELETE FROM ledger_events WHERE seq > 2")
        conn.execute("UPDATE ledger_head SET seq=2, hash=?", (prev,))
    # Then the chain alone looks whole, but the anchor proves the cut
    assert leadcapture(tmp_path, "ledger", "verify").returncode == 0
    result = leadcapture(tmp_path, "ledger", "verify", "--anchor", str(kept))
    assert result.returncode == 1
    assert result.stderr.startswith("event 4: anchored on ")
    assert "no longer in the chain (truncated)" in result.stderr


@pytest.mark.parametrize("content", ["not json", '{"seq": 1}', ""])
def test_a_broken_anchor_file_is_one_clear_line(tmp_path, content):
    assert leadcapture(tmp_path, "db", "upgrade").returncode == 0
    path = tmp_path / "anchor.json"
    path.write_text(content)
    result = leadcapture(tmp_path, "ledger", "verify", "--anchor", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"anchor {path}: ") and len(result.stderr.splitlines()) == 1
    missing = leadcapture(tmp_path, "ledger", "verify", "--anchor", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


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


def test_importing_a_form_whose_brand_has_no_sender_says_where_its_mail_comes_from(tmp_path):
    assert leadcapture(tmp_path, "db", "upgrade").returncode == 0
    imported = leadcapture(tmp_path, "forms", "import", str(DEMO_FORM))
    assert imported.returncode == 0, imported.stderr
    assert "brand:       voorbeeld-b-v" in imported.stdout
    assert "(LEADCAPTURE_MAIL_FROM): brand 'voorbeeld-b-v' has no sender" in imported.stdout
    assert "leadcapture brands edit voorbeeld-b-v --sender-address" in imported.stdout
    # Once the brand has a sender, importing again names no fallback
    edited = leadcapture(tmp_path, "brands", "edit", "voorbeeld-b-v", "--sender-address", "hallo@voorbeeld.nl")
    assert edited.returncode == 0, edited.stderr
    again = leadcapture(tmp_path, "forms", "import", str(DEMO_FORM))
    assert again.returncode == 0 and "mail from" not in again.stdout
