"""GET /healthz: can this process reach the database and the broker (JSON, for load balancers)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from leadcapture.web import ratelimit
from leadcapture.web.context import get_services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@ratelimit.exempt
def healthz():
    """Status of the database and the broker; 503 when either cannot be reached."""
    services = get_services()
    try:
        with services.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        database = f"unreachable: {exc.__class__.__name__}"
    broker = services.broker_status(services.settings.broker_url) if services.broker_status else "unknown"
    ok = database == "ok" and broker in ("ok", "in-process")
    body = {"status": "ok" if ok else "degraded", "database": database, "broker": broker}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ok else 503
