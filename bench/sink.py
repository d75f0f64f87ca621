"""A minimal, fast SMTP sink for benchmarks: accepts everything, counts messages, keeps nothing.

Usage: python bench/sink.py PORT STATS_FILE [ARRIVALS_FILE]
(writes "count first_ts last_ts" every 0.2 s; with ARRIVALS_FILE, appends "recipient ts" per message)
"""

from __future__ import annotations

import asyncio
import sys
import time

stats = {"count": 0, "first": 0.0, "last": 0.0}
arrivals: list[str] = []  # "recipient ts" lines not yet written to ARRIVALS_FILE


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 sink ESMTP\r\n")
    recipients: list[str] = []
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await reader.readuntil(b"\r\n.\r\n")
                now = time.time()
                stats["count"] += 1
                stats["first"] = stats["first"] or now
                stats["last"] = now
                arrivals.extend(f"{rcpt} {now}\n" for rcpt in recipients)
                recipients.clear()
                writer.write(b"250 2.0.0 queued\r\n")
            elif verb == b"EHLO":
                writer.write(b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n")
            elif verb == b"RCPT":
                recipients.append(line.split(b":", 1)[1].strip().strip(b"<>").decode().lower())
                writer.write(b"250 ok\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:  # HELO, MAIL, RSET, NOOP
                if verb in (b"MAIL", b"RSET"):
                    recipients.clear()
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def report(path: str, arrivals_path: str | None) -> None:
    while True:
        if arrivals_path and arrivals:
            with open(arrivals_path, "a") as fh:
                fh.write("".join(arrivals))
            arrivals.clear()
        with open(path + ".tmp", "w") as fh:
            fh.write(f"{stats['count']} {stats['first']} {stats['last']}\n")
        import os

        os.replace(path + ".tmp", path)
        await asyncio.sleep(0.2)


async def main(port: int, path: str, arrivals_path: str | None = None) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 20)
    asyncio.get_running_loop().create_task(report(path, arrivals_path))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
