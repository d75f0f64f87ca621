"""Campaign send benchmark: seed N people, send to a local SMTP sink with 1 and 2 worker processes.

    .venv/bin/python bench/run.py --people 100000 [--workers 1,2] [--database postgresql|sqlite]

Starts its own redis-server (the broker) and SMTP sink on free ports, and with PostgreSQL its own
database on the shared server (dropped afterwards). Prints messages/s, peak RSS of each worker
process, and the ratio to a raw smtplib loop sending the same pre-rendered bytes over one
connection. Nothing here asserts a time: it measures and prints.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MARKDOWN = {
    "nl": "---\nsubject: Drie salestips voor december\nlanguage: nl\n---\n# Tip 1: bel eerst je beste klanten\n\n"
    + "Een voorspelbare pijplijn begint bij de klanten die je al hebt. **Bel ze** voordat je concurrent het doet. " * 4
    + "\n\n- Maak een lijst\n- Plan de gesprekken\n- Meet het resultaat\n\n[Lees meer](https://www.example.com/tips)\n",
    "en": "---\nsubject: Three sales tips for December\nlanguage: en\n---\n# Tip 1: call your best customers first\n\n"
    + "A predictable pipeline starts with the customers you already have. **Call them** before a competitor does. " * 4
    + "\n\n- Make a list\n- Plan the calls\n- Measure the result\n\n[Read more](https://www.example.com/tips)\n",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a process from /proc (kB); 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def sink_stats(path: Path) -> tuple[int, float, float]:
    try:
        count, first, last = path.read_text().split()
        return int(count), float(first), float(last)
    except (OSError, ValueError):
        return 0, 0.0, 0.0


def raw_baseline(port: int, data: bytes, sender: str, to: str, count: int) -> float:
    """Messages/s of a bare smtplib loop sending the same bytes over one connection."""
    with smtplib.SMTP("127.0.0.1", port) as conn:
        began, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            conn.sendmail(sender, [to], data)
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    return count / wall, count / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="worker process counts to measure, comma-separated")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--raw", type=int, default=10_000, help="messages for the raw smtplib loop")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lc_bench_"))
    procs: list[subprocess.Popen] = []
    dbname = f"lc_issue6_bench_{secrets.token_hex(4)}"
    admin = None
    try:
        if args.database == "postgresql":
            import psycopg

            admin = psycopg.connect(args.pg.replace("+psycopg", "") + "/postgres", autocommit=True)
            admin.execute(f'CREATE DATABASE "{dbname}"')
            db_url = f"{args.pg}/{dbname}"
        else:
            db_url = f"sqlite:///{tmp / 'bench.db'}"
        redis_port, sink_port = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
        )
        stats_file = tmp / "sink.stats"
        sink = subprocess.Popen([sys.executable, str(ROOT / "bench" / "sink.py"), str(sink_port), str(stats_file)])
        procs.append(sink)
        wait_for_port(redis_port)
        wait_for_port(sink_port)
        env = {
            "LEADCAPTURE_DATABASE_URL": db_url,
            "LEADCAPTURE_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "LEADCAPTURE_MAIL_URL": f"smtp://127.0.0.1:{sink_port}",
            "LEADCAPTURE_SECRET_KEY": secrets.token_urlsafe(32),
            "LEADCAPTURE_DATA_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "LEADCAPTURE_BASE_URL": "https://leads.example.com",
            "LEADCAPTURE_MAIL_FROM": "Voorbeeld B.V. <nieuws@voorbeeld.nl>",
            "LEADCAPTURE_VAR_DIR": str(tmp / "var"),
            "LEADCAPTURE_WORKER_THREADS": str(args.threads),
        }
        os.environ.update(env)
        import logging

        from bench.seed import seed
        from leadcapture import create_app
        from leadcapture.consent import outbox
        from leadcapture.delivery import campaigns, content
        from leadcapture.delivery.renderer import ContentRenderer
        from leadcapture.models import Person

        app = create_app()
        logging.getLogger().setLevel(logging.WARNING)
        services = app.extensions["leadcapture"]
        seconds = seed(app, args.people)
        print(f"seeded {args.people:,} people with a current consent in {seconds:.1f} s ({args.database})")

        drafts = [content.parse(text) for text in MARKDOWN.values()]
        with services.db.session() as session:
            item = content.create_item(session, "newsletter", drafts)
            person = session.get(Person, 1)
            renderer = ContentRenderer(services, item, "newsletter")
            renderer.load_versions(session, {1})
            sample = renderer.message(person, 1)
        data = sample.as_bytes()
        before = sink_stats(stats_file)[0]
        raw, raw_cpu = raw_baseline(sink_port, data, "nieuws@voorbeeld.nl", "lead1@bench.example", args.raw)
        while sink_stats(stats_file)[0] < before + args.raw:
            time.sleep(0.1)
        print(
            f"raw smtplib loop, one connection, {len(data)} bytes/message: {raw:,.0f} msg/s "
            f"({raw_cpu:,.0f} per CPU-second of the sending process)"
        )

        results = {
            "people": args.people,
            "database": args.database,
            "raw_msgs_per_s": raw,
            "raw_msgs_per_cpu_s": raw_cpu,
            "runs": [],
        }
        results["load_average_before"] = os.getloadavg()
        for count in [int(c) for c in args.workers.split(",")]:
            with services.db.session() as session:
                campaign_id = campaigns.create_campaign(session, item.id).id
            workers = [
                subprocess.Popen(
                    [str(Path(sys.executable).parent / "leadcapture"), "worker"],
                    env={**os.environ, **env},
                    stdout=subprocess.DEVNULL,
                    stderr=open(tmp / f"worker-{count}-{n}.log", "w"),  # noqa: SIM115
                )
                for n in range(count)
            ]
            procs.extend(workers)  # stopped in `finally` too, if the run is interrupted
            time.sleep(3)  # let them boot and connect
            base_rss = [rss_kb(w.pid) for w in workers]
            base_cpu = [cpu_seconds(w.pid) for w in workers]
            sent_before = sink_stats(stats_file)[0]
            began = time.time()
            with services.db.session() as session:
                campaigns.start(session, campaign_id)
            outbox.relay_now(services)
            peak = [0] * count
            while True:
                time.sleep(1)
                peak = [max(p, rss_kb(w.pid)) for p, w in zip(peak, workers, strict=True)]
                with services.db.session() as session:
                    progress = campaigns.progress(session, campaign_id)
                print(
                    f"  {count} worker(s): {progress.processed:,}/{progress.total:,} {progress.status}, "
                    f"RSS now {[round(rss_kb(w.pid) / 1024, 1) for w in workers]} MB",
                    end="\r",
                )
                if progress.status == "done":
                    break
            ended = time.time()
            hwm = [rss_kb(w.pid, "VmHWM") for w in workers]
            cpu = [cpu_seconds(w.pid) - b for w, b in zip(workers, base_cpu, strict=True)]
            load = os.getloadavg()
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=30)
            delivered, _first, last = sink_stats(stats_file)
            delivered -= sent_before
            rate = delivered / ((last or ended) - began)
            run = {
                "workers": count,
                "threads": args.threads,
                "sent": progress.sent,
                "skipped": progress.skipped,
                "failed": progress.failed,
                "delivered_at_sink": delivered,
                "seconds": round(ended - began, 2),
                "msgs_per_s": round(rate, 1),
                "msgs_per_s_per_process": round(rate / count, 1),
                "ratio_to_raw": round(rate / raw, 2),
                "rss_after_boot_mb": [round(r / 1024, 1) for r in base_rss],
                "peak_rss_mb": [round(max(p, h) / 1024, 1) for p, h in zip(peak, hwm, strict=True)],
                "worker_cpu_s": [round(c, 1) for c in cpu],
                # Load-independent: what one worker process sends per second of CPU it gets.
                "msgs_per_cpu_s_per_process": round(delivered / max(sum(cpu), 0.001), 1),
                "ratio_to_raw_per_cpu_s": round(delivered / max(sum(cpu), 0.001) / raw_cpu, 2),
                "load_average_after": [round(x, 1) for x in load],
            }
            results["runs"].append(run)
            print(
                f"{count} worker process(es) x {args.threads} threads: {run['sent']:,} sent in {run['seconds']} s "
                f"= {rate:,.0f} msg/s ({rate / count:,.0f} per process), ratio to raw {rate / raw:.2f}, "
                f"peak RSS per process {run['peak_rss_mb']} MB; per CPU-second of a worker: "
                f"{run['msgs_per_cpu_s_per_process']:,.0f} msg (raw loop: {raw_cpu:,.0f}, ratio "
                f"{run['ratio_to_raw_per_cpu_s']}); load average {load[0]:.1f}"
            )
        print(json.dumps(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        services.db.dispose()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            admin.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
