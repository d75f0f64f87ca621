"""CPU time per submission and per confirmation job, of this checkout and another, side by side.

    .venv/bin/python bench/cpu.py [--other ../older-checkout] [--database postgresql|sqlite|embedded] [--n 400]
                                  [--instructions]

Each checkout runs in its own process (its code first on sys.path, its own migrations and demo
form): N form posts through the Flask test client, then the N confirmation jobs to an SMTP sink
(bench/sink.py, its own process), with the process's CPU time (time.process_time) per item. CPU
time counts only this process's work (not PostgreSQL's, not the sink's), so it moves far less
with the machine's load than wall time does; rounds alternate between the checkouts to even out
what noise is left. Prints ms per item, the load average, and the ratio other/this.

On a machine whose speed varies from minute to minute, `--instructions` counts instructions
instead (valgrind's cachegrind, the same count whatever else runs): each checkout runs with 20
and with 20 + N items, submissions only and submissions with their jobs, and the differences
give instructions per submission and per job. Slow (a minute or more per run), so N defaults
to 100 there; the runs go in parallel, one per core.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import atexit, base64, json, os, secrets, shutil, subprocess, sys, time, uuid
root, database, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
only_submissions = sys.argv[5:] == ["submissions"]
in_process = database == "embedded"  # SQLite, jobs run by the in-process worker as `leadcapture serve` runs them
database = "sqlite" if in_process else database
sys.path.insert(0, root)
if os.environ.get("LC_CPU_NO_IDLE_PING"):  # under valgrind everything is 50 times slower: no connection is idle,
    import leadcapture.db                    # and a deferred write waits 50 times longer for company
    leadcapture.db.IDLE_PING = float("inf")
    leadcapture.db._GroupWriter.DEFER = 50 * getattr(leadcapture.db._GroupWriter, "DEFER", 0)
name = f"lc_cpu_{uuid.uuid4().hex[:8]}"
def clean_up():
    if "services" in globals():
        services.db.dispose()
    shutil.rmtree(f"/tmp/{name}", ignore_errors=True)
    if database == "postgresql":
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name}")
atexit.register(clean_up)
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
    "LEADCAPTURE_BROKER_URL": "" if in_process else "redis://127.0.0.1:6379/9",
    "LEADCAPTURE_MAIL_URL": f"smtp://127.0.0.1:{sink_port}",
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
if in_process:
    import dramatiq
    from leadcapture.cli import JOBS
    worker = JOBS.start_worker(services)
    app.wsgi_app = JOBS.pace_requests(app.wsgi_app)
    def drain():
        dramatiq.get_broker().join("mail")
        worker.join()
    for i in range(50):
        post(n + i)
    drain()
    began = time.process_time()
    for i in range(n):
        post(i)
    drain()
    print(json.dumps({"both_ms": (time.process_time() - began) / n * 1000}))
    worker.stop()
    raise SystemExit(0)
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
if only_submissions:
    raise SystemExit(0)
began = time.process_time()
for i in ids[50:]:
    confirmation.send(services, i)
job_ms = (time.process_time() - began) / len(ids[50:]) * 1000
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


def instructions(root: Path, database: str, n: int, sink_port: int, only_submissions: bool) -> int:
    """Instructions the measuring process ran, counted by cachegrind (its children are not counted)."""
    args = [sys.executable, "-c", CHILD, str(root), database, str(n), str(sink_port)]
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *args]
        + (["submissions"] if only_submissions else []),
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("LEADCAPTURE_")} | {"LC_CPU_NO_IDLE_PING": "1"},
    )
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out.stderr).group(1).replace(",", ""))


def count_instructions(roots: list[tuple[str, Path]], database: str, n: int, sink_port: int) -> None:
    """Print millions of instructions per submission and per confirmation job (embedded: both), and other/this."""
    onlys = (False,) if database == "embedded" else (True, False)
    runs = [(label, root, size, only) for label, root in roots for size in (20, 20 + n) for only in onlys]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        counted = pool.map(lambda run: instructions(run[1], database, run[2], sink_port, run[3]), runs)
        counts = {(label, size, only): count for (label, _, size, only), count in zip(runs, counted, strict=True)}
    print(f"instructions per item, {database}, {n} items (cachegrind)")
    per: dict[str, dict[str, float]] = {}
    for label, _ in roots:
        both = (counts[label, 20 + n, False] - counts[label, 20, False]) / n
        if database == "embedded":
            per[label] = {"submission with its confirmation job": both}
        else:
            submission = (counts[label, 20 + n, True] - counts[label, 20, True]) / n
            per[label] = {"submission": submission, "confirmation job": both - submission}
        print(f"  {label:5} " + "   ".join(f"{what} {count / 1e6:.2f} M" for what, count in per[label].items()))
    if "other" in per:
        for what in per["this"]:
            print(f"  other/this, {what}: {per['other'][what] / per['this'][what]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, help="another checkout to measure beside this one")
    parser.add_argument(
        "--database",
        choices=("postgresql", "sqlite", "embedded"),
        default="postgresql",
        help="embedded: SQLite with the in-process worker of `leadcapture serve` (one figure for both)",
    )
    parser.add_argument("--n", type=int, help="items measured (default 400, or 100 with --instructions)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--instructions", action="store_true", help="count instructions with valgrind instead")
    opts = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.stack import free_port

    port = free_port()
    sink = subprocess.Popen([sys.executable, str(ROOT / "bench/sink.py"), str(port), "/tmp/lc_cpu_sink.stats"])
    try:
        roots = [("this", ROOT)] + ([("other", opts.other.resolve())] if opts.other else [])
        if opts.instructions:
            count_instructions(roots, opts.database, opts.n or 100, port)
            return
        opts.n = opts.n or 400
        results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in roots}
        for _ in range(opts.rounds):
            for label, root in roots:
                results[label].append(measure(root, opts.database, opts.n, port))
        print(f"CPU per item, {opts.database}, {opts.n} items, best of {opts.rounds}; load {os.getloadavg()[0]:.1f}")
        names = {"submit_ms": "submission", "job_ms": "confirmation job", "both_ms": "submission with its job"}
        best = {label: {k: min(r[k] for r in runs) for k in runs[0]} for label, runs in results.items()}
        for label, figures in best.items():
            print(f"  {label:5} " + "   ".join(f"{names[k]} {ms:.2f} ms" for k, ms in figures.items()))
        if "other" in best:
            for key in best["this"]:
                print(f"  other/this, {names[key]}: {best['other'][key] / best['this'][key]:.2f}")
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
