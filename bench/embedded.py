"""Benchmark the embedded default next to a naive double of its HTTP contract, in one run.

    .venv/bin/python bench/embedded.py [--clients 16] [--seconds 20] [--cli path/to/leadcapture]
                                       [--broker redis://127.0.0.1:6379/5]

Starts `leadcapture serve` (SQLite, the in-process worker) on a fresh VAR_DIR, then the double
(bench/double.py: Flask + sqlite3 + itsdangerous + one reused SMTP connection). Each is driven
by the same concurrent clients, every submission with a unique address and its own form token,
while an SMTP sink notes when each address's mail arrives. Prints accepted submissions/s for
both, the ratio, submit->mail p50/p99 for both, and the cores each server process used. `--cli`
points at another checkout's `leadcapture` (a before/after comparison). `--broker` runs `serve`
with that broker and one `leadcapture worker` process beside it, on the same SQLite file: the
worker on a core of its own (the Redis database given is emptied first). Nothing here asserts a
time: it measures and prints.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from itsdangerous import URLSafeTimedSerializer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import free_port, pct, stop, tree_cpu_seconds, wait_port  # noqa: E402


class Sink:
    """bench/sink.py in its own process (the clients here hold the GIL): arrival time per recipient."""

    def __init__(self, work: Path) -> None:
        self.port, self.path = free_port(), work / "arrivals.txt"
        self.path.touch()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench/sink.py"), str(self.port), str(work / "sink.stats"), str(self.path)]
        )
        wait_port(self.port)

    def arrivals(self) -> dict[str, float]:
        """The first arrival per recipient so far."""
        seen: dict[str, float] = {}
        for line in self.path.read_text().splitlines():
            rcpt, _, at = line.partition(" ")
            seen.setdefault(rcpt, float(at))
        return seen


def drive(port: int, tokens: list[str], run: str, clients: int, seconds: float) -> tuple[dict[str, float], float]:
    """Post the form from concurrent clients for a while: {address: submit time} of the accepted, and the time."""
    accepted: dict[str, float] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    supply = iter(tokens)

    def client(number: int) -> None:
        count = 0
        while time.monotonic() < deadline:
            with lock:
                token = next(supply, None)
            if token is None:
                return
            count += 1
            address = f"{run}-{number}-{count}@example.com"
            body = urlencode({"csrf_token": token, "email": address})
            began = time.time()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", "/f/sales-machine", body, {"Content-Type": "application/x-www-form-urlencoded"})
                response = conn.getresponse()
                response.read()
            except OSError:
                continue
            finally:
                conn.close()
            if response.status == 200:
                with lock:
                    accepted[address] = began

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return accepted, time.monotonic() - began


def measure(
    name: str, port: int, tokens: list[str], sink: Sink, opts: argparse.Namespace, procs: dict[str, int]
) -> dict[str, float]:
    """Drive one server, wait for its mail, print and return accepted/s and submit->mail p50/p99.

    procs names the server's processes (name: pid), whose CPU use during the drive is printed.
    """
    run = name[0]
    drive(port, tokens[:50], f"warm{run}", 2, 2)  # first requests compile templates and fill pools
    cpu = {label: tree_cpu_seconds(pid) for label, pid in procs.items()}
    accepted, elapsed = drive(port, tokens[50:], run, opts.clients, opts.seconds)
    cores = {label: (tree_cpu_seconds(pid) - cpu[label]) / elapsed for label, pid in procs.items()}
    deadline = time.monotonic() + 120
    while True:
        arrivals = sink.arrivals()
        if all(a in arrivals for a in accepted) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    waits = [(arrivals[a] - t) * 1000 for a, t in accepted.items() if a in arrivals]
    result = {"rate": len(accepted) / elapsed, "p50": pct(waits, 50), "p99": pct(waits, 99)}
    print(
        f"  {name}: accepted/s {result['rate']:.0f} ({len(accepted)} in {elapsed:.1f} s); "
        f"mail arrived for {len(waits)}; submit->mail p50 {result['p50']:.0f} ms  p99 {result['p99']:.0f} ms; "
        + ", ".join(f"{label} {used:.2f} cores" for label, used in cores.items()),
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--cli", default=str(Path(sys.executable).parent / "leadcapture"))
    parser.add_argument("--broker", default="", help="serve with this broker and a worker process beside it")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lc_embedded_"))
    sink = Sink(work)
    secret = secrets.token_urlsafe(32)
    procs: list[subprocess.Popen] = [sink.proc]
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADCAPTURE_")}
        env.update(
            {
                "LEADCAPTURE_VAR_DIR": str(work / "var"),
                "LEADCAPTURE_MAIL_URL": f"smtp://127.0.0.1:{sink.port}",
                "LEADCAPTURE_SECRET_KEY": secret,
                "LEADCAPTURE_DATA_KEY": base64.urlsafe_b64encode(b"e" * 32).decode(),
                "LEADCAPTURE_MIN_FILL_SECONDS": "0",
                "LEADCAPTURE_RATELIMIT_ENABLED": "false",  # measure the pipeline, not the limiter
                "LEADCAPTURE_BROKER_URL": opts.broker,
            }
        )
        if opts.broker:
            import redis

            redis.Redis.from_url(opts.broker).flushdb()  # no job of an earlier run
        subprocess.run([opts.cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [opts.cli, "forms", "import", str(ROOT / "demo/sales-machine.toml")],
            env=env,
            check=True,
            capture_output=True,
        )
        needed = int(opts.seconds * 2000) + 100  # more than any server here accepts
        from leadcapture.consent.tokens import FORM, Tokens

        shown = int(time.time()) - 60
        ours_tokens = [
            Tokens(secret).make(FORM, {"f": "sales-machine", "t": shown, "n": f"e{i}"}) for i in range(needed)
        ]
        port = free_port()
        log = (work / "serve.log").open("w")
        server = subprocess.Popen(
            [opts.cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work
        )
        procs.append(server)
        ours_procs = {"serve": server.pid}
        if opts.broker:
            worker = subprocess.Popen([opts.cli, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
            procs.append(worker)
            ours_procs["worker"] = worker.pid
        wait_port(port)
        where = f"a worker process, broker {opts.broker}" if opts.broker else "in-process worker"
        print(
            f"embedded: `leadcapture serve` (SQLite, {where}) vs the double; "
            f"{opts.clients} clients, {opts.seconds:.0f} s each; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        ours = measure("leadcapture serve", port, ours_tokens, sink, opts, ours_procs)
        for proc in procs[1:]:
            stop(proc)

        double_tokens = URLSafeTimedSerializer(secret, salt="form")
        dport = free_port()
        double = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench/double.py"),
                str(dport),
                str(work / "double.db"),
                str(sink.port),
                secret,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(double)
        wait_port(dport)
        theirs = measure(
            "naive double", dport, [double_tokens.dumps(i) for i in range(needed)], sink, opts, {"double": double.pid}
        )
        print(f"  ratio ours/double (accepted/s): {ours['rate'] / theirs['rate']:.2f}")
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
