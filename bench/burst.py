"""List-bombing one victim: N submissions of one address through the real app, limits on and off.

Usage: .venv/bin/python bench/burst.py [N]   (prints time per submission and confirmations queued)
"""

from __future__ import annotations

import base64
import re
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from leadcapture import create_app
from leadcapture.consent.formdefs import load_toml, save
from leadcapture.migrations import upgrade
from leadcapture.models import OutboxJob, Submission

ROOT = Path(__file__).resolve().parent.parent


def run(n: int, limits: bool) -> None:
    """Submit n times for one address from one IP (limits on) and print what got through."""
    tmp = Path(tempfile.mkdtemp())
    app = create_app(
        {
            "VAR_DIR": str(tmp),
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
            "SECRET_KEY": "bench",
            "DATA_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(),
            "MIN_FILL_SECONDS": 0,
            "RATELIMIT_ENABLED": limits,
        }
    )
    services = app.extensions["leadcapture"]
    upgrade(services.db)
    with services.db.session() as session:
        save(session, *load_toml(ROOT / "demo" / "sales-machine.toml"))
    client = app.test_client()
    page = client.get("/f/sales-machine").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    for i in range(n):
        email = "victim@example.com" if i % 2 else "Victim@Example.COM"
        status = client.post("/f/sales-machine", data={"csrf_token": token, "email": email}).status_code
        statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.perf_counter() - start
    with services.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(Submission))
        mails = session.scalar(select(func.count()).where(OutboxJob.actor == "send_confirmation"))
    print(
        f"limits {'on ' if limits else 'off'}  {n} posts in {elapsed:.1f} s ({elapsed / n * 1000:.1f} ms each)  "
        f"statuses {statuses}  stored {stored}  confirmations queued {mails}"
    )
    services.db.dispose()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    run(count, limits=False)
    run(count, limits=True)
