"""The ceiling: a minimal Flask + SQLAlchemy app doing the same writes per submission, none of our code.

One row for the person, one for the submission, one outbox row, in one transaction; the same
gunicorn settings as ours. `gunicorn --preload bench.baseline:app` with BASELINE_DATABASE_URL set.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, request
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Lead(Base):
    __tablename__ = "baseline_people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Entry(Base):
    __tablename__ = "baseline_submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("baseline_people.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Job(Base):
    __tablename__ = "baseline_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    args_json: Mapped[str] = mapped_column(Text)


engine = create_engine(os.environ["BASELINE_DATABASE_URL"], pool_pre_ping=True)
# Created once, in gunicorn's master (`--preload`): two workers each creating the tables at once
# race in PostgreSQL's catalog, and a worker that loses dies at boot. No connection is kept
# across the fork.
Base.metadata.create_all(engine)
engine.dispose()
app = Flask(__name__)


@app.post("/f/<slug>")
def submit(slug: str):
    """Store the submission the plainest way and answer."""
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        lead = Lead(email=request.form["email"], created_at=now)
        session.add(lead)
        session.flush()
        entry = Entry(person_id=lead.id, created_at=now)
        session.add(entry)
        session.flush()
        session.add(Job(args_json=f"[{entry.id}]"))
    return "<p>Check your mailbox</p>"
