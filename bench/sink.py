"""A minimal, fast SMTP sink for benchmarks: accepts everything, counts messages, keeps nothing.

Usage: python bench/sink.py PORT STATS_FILE   (writes "count first_ts last_ts" every 0.2 s)
"""

from __future__ import annotations

import asyncio
import sys
import time

stats = {"count": 0, "first": 0.0, "last": 0.0}


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 sink ESMTP\r\n")
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
                writer.write(b"250 2.0.0 queued\r\n")
            elif verb == b"EHLO":
                writer.write(b"250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def report(path: str) -> None:
    while True:
        with open(path + ".tmp", "w") as fh:
            fh.write(f"{stats['count']} {stats['first']} {stats['last']}\n")
        import os

        os.replace(path + ".tmp", path)
        await asyncio.sleep(0.2)


async def main(port: int, path: str) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 20)
    asyncio.get_running_loop().create_task(report(path))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
