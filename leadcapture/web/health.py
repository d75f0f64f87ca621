"""GET /healthz: is the database reachable."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..core import get_core

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """JSON status of the database; 503 when it cannot be reached."""
    try:
        with get_core().db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        database = "unreachable"
    ok = database == "ok"
    return jsonify(status="ok" if ok else "degraded", database=database), 200 if ok else 503
