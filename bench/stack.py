"""Benchmark the production stack: `make bench` (or `.venv/bin/python bench/stack.py`).

Starts PostgreSQL (a fresh database on the local server), a private redis-server, an SMTP sink
(aiosmtpd), gunicorn (2 workers) and one `leadcapture worker` process; drives form submissions
with wrk, in rounds that alternate with a minimal Flask+SQLAlchemy app (the ceiling) so that both
see the same machine (30 s each in all); prints submissions/s, p50/p99 latency,
submit->confirmation-in-sink p50/p99, the ratio to the ceiling per round and its median, and
mail throughput per worker process.
"""

from __future__ import annotations

import argparse
import base64
import http.cookiejar
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select

ROOT = Path(__file__).resolve().parent.parent
logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: one line per SMTP command otherwise
sys.path.insert(0, str(ROOT))
PG = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout}s")


def new_database() -> tuple[str, str]:
    name = f"lc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG.rsplit("/", 1)[0].removeprefix("postgresql://")
    return name, f"postgresql+psycopg://{base}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Sink:
    """SMTP sink: arrival time per Message-ID."""

    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        found = re.search(rb"^Message-ID: (<[^>]+>)", envelope.original_content, re.M | re.I)
        with self.lock:
            self.arrivals[found.group(1).decode() if found else f"?{len(self.arrivals)}"] = now
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def mint_form_tokens(path: Path, secret_key: str, count: int) -> Path:
    """One form token per request, as many visitors' pages would hold (a token stores one submission)."""
    from leadcapture.consent.tokens import FORM, Tokens

    tokens, shown = Tokens(secret_key), int(time.time()) - 60
    path.write_text(
        "".join(tokens.make(FORM, {"f": "sales-machine", "t": shown, "n": f"b{i}"}) + "\n" for i in range(count))
    )
    return path


def visitor(base: str) -> tuple[str, str]:
    """A CSRF token and the session cookie it belongs to."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/f/sales-machine", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return token, "; ".join(f"{c.name}={c.value}" for c in jar)


def wrk(url: str, seconds: int, connections: int, env_extra: dict[str, str]) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install wrk` (make bench does it when root)")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(ROOT / "bench/post.lua"), url],
        env={**os.environ, "BENCH_THREADS": "2", **env_extra},
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else (values or [0])[0]


def confirmation_latencies(database_url: str, sink: Sink) -> list[float]:
    from leadcapture.models import Message, Submission

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Message.message_id, Submission.created_at)
            .join(Submission, Submission.person_id == Message.person_id)
            .where(Message.kind == "confirmation")
        ).all()
    engine.dispose()
    return [(sink.arrivals[mid] - created.timestamp()) * 1000 for mid, created in rows if mid in sink.arrivals]


def submit_directly(env: dict[str, str], n: int) -> None:
    """n submissions written as the form writes them, without HTTP, each published after its commit as the web does.

    So the worker measured next runs the jobs only; its periodic relay (a recovery path, idle in
    the steady state) finds nothing to publish.
    """
    from leadcapture import create_app
    from leadcapture.consent import outbox
    from leadcapture.consent import transitions as consent
    from leadcapture.consent.people import Visitor
    from leadcapture.consent.versions import current_version

    keys = {k: env[f"LEADCAPTURE_{k}"] for k in ("DATABASE_URL", "DATA_KEY", "SECRET_KEY", "BASE_URL", "BROKER_URL")}
    app = create_app({**keys, "VAR_DIR": env["LEADCAPTURE_VAR_DIR"] + "-direct", "TESTING": True})
    services = app.extensions["leadcapture"]
    who = Visitor(ip="192.0.2.1", user_agent="bench", page_url="https://bench.test/")
    with services.db.sessionmaker() as session:
        outbox.publish_on_commit(session, services)
        version = current_version(session, "sales-machine")
        for i in range(n):
            consent.submit(
                session,
                services.vault,
                services.settings,
                version,
                email=f"direct{i}-{secrets.token_hex(4)}@example.com",
                fields={},
                purpose_keys=[],
                visitor=who,
            )
            session.commit()
    services.db.dispose()


def transport_throughput(n: int = 2000) -> tuple[float, float]:
    """compose + SMTP send of n confirmation-sized messages on one thread, one reused connection: msg/s, CPU ms each.

    To a sink in its own process (bench/sink.py), so this process's CPU time is the sender's alone.
    """
    from leadcapture.consent import wording
    from leadcapture.delivery.templates import Rendered, render
    from leadcapture.delivery.transports import SMTPTransport

    form = {"title": "Whitepaper", "controller": "Voorbeeld B.V.", "privacy_url": "https://x.test/p"}
    ctx = {
        "form": form,
        "wording": wording.of(form),
        "items": ["Stuur mij de whitepaper", "Nieuwsbrief"],
        "confirm_url": "https://lc.test/c/a",
        "not_me_url": "https://lc.test/u/x",
        "preferences_url": "https://lc.test/p/x",
        "max_age_days": 7,
    }
    rendered: Rendered = render("confirmation", "nl", ctx)
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        sink = subprocess.Popen([sys.executable, str(ROOT / "bench/sink.py"), str(port), f"{work}/stats"])
        try:
            wait_port(port)
            return _send_all(rendered, SMTPTransport(f"smtp://127.0.0.1:{port}"), n)
        finally:
            sink.terminate()
            sink.wait()


def _send_all(rendered: Any, transport: Any, n: int) -> tuple[float, float]:
    from leadcapture.delivery.templates import compose

    began, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        transport.send(
            compose(
                rendered,
                sender="Voorbeeld <hallo@voorbeeld.nl>",
                to=f"t{i}@example.com",
                unsubscribe_url="https://lc.test/u/x",
                auto_submitted=True,
            )
        )
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    transport.close()
    return n / elapsed, 1000 * cpu / n


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by a process and its children (a supervisor and its worker)."""
    from bench.run import cpu_seconds

    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(child) for child in task.read_text().split()]
    return cpu_seconds(pid) + sum(tree_cpu_seconds(child) for child in children)


def start_baseline(bin_dir: Path, port: int, database_url: str, log: Path) -> subprocess.Popen:
    """The ceiling: a minimal Flask + SQLAlchemy app with the same writes, under the same gunicorn settings."""
    args = ["-w", "2", "--threads", "4", "-k", "gthread", "--preload", "-b", f"127.0.0.1:{port}", "bench.baseline:app"]
    return start([str(bin_dir / "gunicorn"), *args], {**os.environ, "BASELINE_DATABASE_URL": database_url}, log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, help="seconds of load on each app, over all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating ours and the minimal app")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--mail", type=int, default=3000, help="messages for the per-process mail throughput")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lc_bench_"))
    bin_dir = Path(sys.executable).parent
    procs: list[subprocess.Popen] = []
    databases: list[str] = []
    redis_port = free_port()
    procs.append(
        subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(work),
            ],
            stdout=subprocess.DEVNULL,
        )
    )
    wait_port(redis_port)
    sink = Sink()
    try:
        name, database_url = new_database()
        databases.append(name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCAPTURE_")}
        env.update(
            {
                "LEADCAPTURE_ENV": "production",
                "LEADCAPTURE_VAR_DIR": str(work / "var"),
                "LEADCAPTURE_DATABASE_URL": database_url,
                "LEADCAPTURE_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                "LEADCAPTURE_MAIL_URL": f"smtp://127.0.0.1:{sink.port}",
                "LEADCAPTURE_SECRET_KEY": secrets.token_urlsafe(32),
                "LEADCAPTURE_DATA_KEY": base64.urlsafe_b64encode(b"b" * 32).decode(),
                "LEADCAPTURE_LEDGER_KEY": base64.urlsafe_b64encode(b"l" * 32).decode(),
                "LEADCAPTURE_BASE_URL": "https://bench.test",
                "LEADCAPTURE_MIN_FILL_SECONDS": "0",
                "LEADCAPTURE_RATELIMIT_ENABLED": "false",  # measure the pipeline, not the limiter
            }
        )
        cli = [str(bin_dir / "leadcapture")]
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*cli, "forms", "import", str(ROOT / "demo/sales-machine.toml")], env=env, check=True, capture_output=True
        )
        port = free_port()
        web = start(
            [*cli, "serve", "--production", "--port", str(port), "--workers", "2", "--threads", "4"],
            env,
            work / "web.log",
        )
        procs.append(web)
        worker = start([*cli, "worker", "--processes", "1", "--threads", "8"], env, work / "worker.log")
        procs.append(worker)
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        token, cookie = visitor(base)
        name2, baseline_url = new_database()
        databases.append(name2)
        bport = free_port()
        procs.append(start_baseline(bin_dir, bport, baseline_url, work / "baseline.log"))
        wait_port(bport)
        seconds = max(opts.seconds // opts.rounds, 1)
        print(
            f"leadcapture: gunicorn 2x4 + 1 worker x8, PostgreSQL, Redis, SMTP sink; wrk {opts.rounds} rounds of "
            f"{seconds}s, {opts.connections} connections, each round followed by one of the minimal app",
            flush=True,
        )
        rounds: list[tuple[dict[str, float], dict[str, float]]] = []
        accepted = 0.0
        for i in range(opts.rounds):
            tokens_file = mint_form_tokens(work / f"tokens{i}.txt", env["LEADCAPTURE_SECRET_KEY"], 20_000)
            ours = wrk(
                f"{base}/f/sales-machine",
                seconds,
                opts.connections,
                {"BENCH_TOKEN": token, "BENCH_TOKENS": str(tokens_file), "BENCH_COOKIE": cookie, "BENCH_RUN": f"w{i}"},
            )
            accepted += ours["rps"] * seconds
            deadline = time.monotonic() + 120  # the mail of this round leaves before the minimal app is measured
            while sink.count() < int(accepted * 0.95) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(1)
            ceiling = wrk(
                f"http://127.0.0.1:{bport}/f/sales-machine",
                seconds,
                opts.connections,
                {"BENCH_TOKEN": "x", "BENCH_COOKIE": "", "BENCH_RUN": f"b{i}"},
            )
            rounds.append((ours, ceiling))
            print(
                f"  round {i + 1}: ours {ours['rps']:.0f}/s (p50 {ours['p50']:.0f} ms, p99 {ours['p99']:.0f} ms, "
                f"non-2xx {ours['errors']}), minimal {ceiling['rps']:.0f}/s (p99 {ceiling['p99']:.0f} ms): "
                f"{ours['rps'] / ceiling['rps']:.2f}; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        time.sleep(2)
        latencies = confirmation_latencies(database_url, sink)
        ratios = sorted(ours["rps"] / ceiling["rps"] for ours, ceiling in rounds)
        print(
            f"  submissions/s {statistics.mean(o['rps'] for o, _ in rounds):.0f}  "
            f"latency p50 {statistics.median(o['p50'] for o, _ in rounds):.1f} ms  "
            f"p99 {max(o['p99'] for o, _ in rounds):.1f} ms (median p50, worst p99 of the rounds)  "
            f"non-2xx {sum(o['errors'] for o, _ in rounds)}"
        )
        print(
            f"  submit->confirmation in sink: {len(latencies)} messages, p50 {pct(latencies, 50):.0f} ms  "
            f"p99 {pct(latencies, 99):.0f} ms",
            flush=True,
        )
        print(f"  minimal Flask+SQLAlchemy: submissions/s {statistics.mean(c['rps'] for _, c in rounds):.0f}")
        each = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"  ratio ours/ceiling: {statistics.median(ratios):.2f} (median of the rounds: {each})")
        stop(web)

        # mail throughput of one worker process: a backlog of opts.mail confirmations, then one worker
        stop(worker)
        submit_directly(env, opts.mail)
        before = sink.count()
        worker = start([*cli, "worker", "--processes", "1", "--threads", "8"], env, work / "worker2.log")
        procs.append(worker)
        deadline = time.monotonic() + 180
        while sink.count() < before + min(50, opts.mail) and time.monotonic() < deadline:
            time.sleep(0.05)  # booting (imports, connections) is not the job's CPU
        counted_from, cpu_from = sink.count(), tree_cpu_seconds(worker.pid)
        while sink.count() < before + opts.mail and time.monotonic() < deadline:
            time.sleep(0.2)
        job_cpu_ms = 1000 * (tree_cpu_seconds(worker.pid) - cpu_from) / max(sink.count() - counted_from, 1)
        times = sorted(list(sink.arrivals.values())[before:])
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        print(
            f"  mail to the sink, one worker process (8 threads, full job: DB gate + compose + SMTP + record): "
            f"{rate:.0f} msg/s ({len(times)} messages); worker CPU {job_cpu_ms:.2f} ms per message"
        )
        transport_rate, transport_cpu_ms = transport_throughput()
        print(
            f"  transport only (compose + SMTP, one thread, one connection): {transport_rate:.0f} msg/s, "
            f"{transport_cpu_ms:.2f} ms CPU per message"
        )
        print(
            f"  full job / transport: {rate / transport_rate:.2f} by msg/s, "
            f"{transport_cpu_ms / job_cpu_ms:.2f} by CPU per message (moves less with the load)"
        )
        stop(worker)

    finally:
        for proc in reversed(procs):
            stop(proc)
        sink.controller.stop()
        for name in databases:
            drop_database(name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
