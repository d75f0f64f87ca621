"""CPU time per submission and per confirmation job, of this checkout and another, side by side.

    .venv/bin/python bench/cpu.py [--other ../older-checkout] [--database postgresql|sqlite] [--n 400]

Each checkout runs in its own process (its code first on sys.path, its own migrations and demo
form): N form posts through the Flask test client, then the N confirmation jobs to an SMTP sink
(bench/sink.py, its own process), with the process's CPU time (time.process_time) per item. CPU
time counts only this process's work (not PostgreSQL's, not the sink's), so it moves far less
with the machine's load than wall time does; rounds alternate between the checkouts to even out
what noise is left. Prints ms per item, the load average, and the ratio other/this.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import base64, json, os, secrets, subprocess, sys, time, uuid
root, database, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, root)
name = f"lc_cpu_{uuid.uuid4().hex[:8]}"
if database == "postgresql":
    import psycopg
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
else:
    url = f"sqlite:////tmp/{name}/lc.db"
sink_port = int(sys.argv[4])
os.environ.update({
    "LEADCAPTURE_ENV": "production", "LEADCAPTURE_VAR_DIR": f"/tmp/{name}", "LEADCAPTURE_DATABASE_URL": url,
    "LEADCAPTURE_BROKER_URL": "redis://127.0.0.1:6379/9", "LEADCAPTURE_MAIL_URL": f"smtp://127.0.0.1:{sink_port}",
    "LEADCAPTURE_SECRET_KEY": secrets.token_urlsafe(32),
    "LEADCAPTURE_DATA_KEY": base64.urlsafe_b64encode(b"b" * 32).decode(),
    "LEADCAPTURE_LEDGER_KEY": base64.urlsafe_b64encode(b"l" * 32).decode(),
    "LEADCAPTURE_BASE_URL": "https://bench.test", "LEADCAPTURE_MIN_FILL_SECONDS": "0",
    "LEADCAPTURE_RATELIMIT_ENABLED": "false", "PYTHONPATH": root,
})
cli = [sys.executable, "-c", "import sys; from leadcapture.cli import main; sys.exit(main())"]
subprocess.run([*cli, "db", "upgrade"], check=True, capture_output=True)
subprocess.run([*cli, "forms", "import", f"{root}/demo/sales-machine.toml"], check=True, capture_output=True)
from leadcapture import create_app
from leadcapture.consent.tokens import FORM, Tokens
from leadcapture.delivery import confirmation
from leadcapture.models import Form, Submission
from sqlalchemy import select
app = create_app()
services = app.extensions["leadcapture"]
client = app.test_client()
tokens = Tokens(os.environ["LEADCAPTURE_SECRET_KEY"])
shown = int(time.time()) - 60
with services.db.session() as session:
    live = session.scalar(select(Form.current_version_id).where(Form.slug == "sales-machine"))
# Each token names the version its page showed, as pages make them (a checkout before that ignores "v").
toks = [tokens.make(FORM, {"f": "sales-machine", "t": shown, "n": f"c{i}", "v": live}) for i in range(n + 50)]
def post(i):
    r = client.post("/f/sales-machine", data={"csrf_token": toks[i], "email": f"c{i}-{name}@example.com"})
    assert r.status_code == 200, r.status_code
for i in range(50):
    post(n + i)
began = time.process_time()
for i in range(n):
    post(i)
submit_ms = (time.process_time() - began) / n * 1000
with services.db.session() as session:
    ids = list(session.scalars(select(Submission.id).order_by(Submission.id)))
for i in ids[:50]:
    confirmation.send(services, i)
began = time.process_time()
for i in ids[50:]:
    confirmation.send(services, i)
job_ms = (time.process_time() - began) / len(ids[50:]) * 1000
services.db.dispose()
print(json.dumps({"submit_ms": submit_ms, "job_ms": job_ms}))
"""


def measure(root: Path, database: str, n: int, sink_port: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), database, str(n), str(sink_port)],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("LEADCAPTURE_")},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.stack import free_port

    port = free_port()
    sink = subprocess.Popen([sys.executable, str(ROOT / "bench/sink.py"), str(port), "/tmp/lc_cpu_sink.stats"])
    try:
        roots = [("this", ROOT)] + ([("other", opts.other.resolve())] if opts.other else [])
        results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in roots}
        for _ in range(opts.rounds):
            for label, root in roots:
                results[label].append(measure(root, opts.database, opts.n, port))
        print(f"CPU per item, {opts.database}, {opts.n} items, best of {opts.rounds}; load {os.getloadavg()[0]:.1f}")
        best = {label: {k: min(r[k] for r in runs) for k in ("submit_ms", "job_ms")} for label, runs in results.items()}
        for label, figures in best.items():
            print(f"  {label:5} submission {figures['submit_ms']:.2f} ms   confirmation job {figures['job_ms']:.2f} ms")
        if "other" in best:
            for key, what in (("submit_ms", "submission"), ("job_ms", "confirmation job")):
                print(f"  other/this, {what}: {best['other'][key] / best['this'][key]:.2f}")
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
