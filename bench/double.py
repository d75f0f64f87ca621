"""A naive double of the form's HTTP contract, the yardstick of bench/embedded.py.

POST /f/<slug> with `csrf_token` (a form token) and `email`: the token is checked with
itsdangerous and spent, the person and submission are written with sqlite3 in one transaction,
and "check your mail" is answered; one thread sends each confirmation (a signed link) over one
reused SMTP connection. None of leadcapture's code runs here.

    python bench/double.py PORT DATABASE_PATH SMTP_PORT SECRET_KEY
"""

from __future__ import annotations

import queue
import smtplib
import sqlite3
import sys
import threading
from email.message import EmailMessage

from flask import Flask, abort, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

SCHEMA = """
CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL, created_at REAL);
CREATE TABLE IF NOT EXISTS spent_tokens (token TEXT PRIMARY KEY);
"""


def make_app(database: str, smtp_port: int, secret_key: str) -> Flask:
    """The double: a form endpoint and one mail thread."""
    app = Flask(__name__)
    forms = URLSafeTimedSerializer(secret_key, salt="form")
    links = URLSafeTimedSerializer(secret_key, salt="confirm")
    local = threading.local()
    mail: queue.Queue[tuple[str, int]] = queue.Queue()
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)

    def db() -> sqlite3.Connection:
        if getattr(local, "conn", None) is None:
            local.conn = sqlite3.connect(database, timeout=30, isolation_level=None)
            local.conn.execute("PRAGMA synchronous=NORMAL")
        return local.conn

    def sender() -> None:
        smtp = smtplib.SMTP("127.0.0.1", smtp_port)
        while True:
            address, submission_id = mail.get()
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "noreply@double.test", address, "Confirm your request"
            msg.set_content(f"Confirm: http://double.test/c/{links.dumps(submission_id)}\n")
            smtp.send_message(msg)

    threading.Thread(target=sender, daemon=True).start()

    @app.post("/f/<slug>")
    def submit(slug: str):
        token, email = request.form.get("csrf_token", ""), request.form.get("email", "")
        try:
            forms.loads(token, max_age=7200)
        except BadSignature:
            abort(400)
        if "@" not in email:
            abort(400)
        conn = db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO spent_tokens (token) VALUES (?)", (token,))
            conn.execute("INSERT OR IGNORE INTO people (email) VALUES (?)", (email,))
            (person_id,) = conn.execute("SELECT id FROM people WHERE email = ?", (email,)).fetchone()
            cur = conn.execute(
                "INSERT INTO submissions (person_id, created_at) VALUES (?, julianday('now'))", (person_id,)
            )
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            return "<p>This form was sent already.</p>", 409
        mail.put((email, cur.lastrowid))
        return "<p>Check your mailbox</p>"

    return app


if __name__ == "__main__":
    port, database, smtp_port, secret = sys.argv[1:5]
    make_app(database, int(smtp_port), secret).run(host="127.0.0.1", port=int(port), threaded=True)
