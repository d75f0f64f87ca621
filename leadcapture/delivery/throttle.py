"""Messages-per-second limits per sending relay and domain, shared by every worker process.

GCRA (the generic cell rate algorithm): each send reserves the next slot on a theoretical
arrival time (TAT) and sleeps until that slot, so there is no retry loop and no busy waiting.
With a Redis URL the TAT lives in Redis and one Lua script updates it atomically, so the limit
holds across processes and hosts; without one (the embedded default) it lives in the process.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol
from urllib.parse import urlsplit

from leadcapture.settings import Settings

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
return wait
"""


class Throttle(Protocol):
    def acquire(self) -> float: ...


class Unlimited:
    """No limit configured."""

    def acquire(self) -> float:
        """Return at once."""
        return 0.0


class LocalThrottle:
    """GCRA within one process (threads share it)."""

    def __init__(self, rate: float, burst: int):
        self.interval = 1.0 / rate
        self.tolerance = self.interval * (burst - 1)
        self._tat = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next slot; returns the seconds to wait before using it."""
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat, now)
            self._tat = tat + self.interval
        return max(0.0, tat - self.tolerance - now)

    def acquire(self) -> float:
        """Reserve the next slot and sleep until it; returns the seconds slept."""
        wait = self.reserve()
        if wait > 0:
            time.sleep(wait)
        return wait


class RedisThrottle:
    """GCRA in Redis: one atomic script call per message, shared by every process."""

    def __init__(self, url: str, key: str, rate: float, burst: int):
        import redis

        self.key = key
        self.interval_us = max(1, round(1_000_000 / rate))
        self.tolerance_us = self.interval_us * (burst - 1)
        self._script = redis.Redis.from_url(url).register_script(_GCRA)

    def reserve(self) -> float:
        """Take the next slot in Redis; returns the seconds to wait before using it."""
        return int(self._script(keys=[self.key], args=[self.interval_us, self.tolerance_us])) / 1_000_000

    def acquire(self) -> float:
        """Reserve the next slot in Redis and sleep until it; returns the seconds slept."""
        wait = self.reserve()
        if wait > 0:
            time.sleep(wait)
        return wait


def relay_key(settings: Settings) -> str:
    """What the limit is per: the SMTP relay (or the local outbox) and the sending domain."""
    url = settings.mail_url
    relay = f"{urlsplit(url).hostname}:{urlsplit(url).port or 25}" if url else "outbox"
    domain = settings.mail_from.rpartition("@")[2].rstrip(">").strip().lower()
    return f"{relay}|{domain}"


def make_throttle(settings: Settings) -> Throttle:
    """The throttle LEADCAPTURE_SEND_RATE (messages/s, 0 = none) and _SEND_BURST describe."""
    rate, burst = settings.send_rate, settings.send_burst
    if rate == 0:
        return Unlimited()
    if settings.redis_url:
        prefix = settings.redis_prefix or "leadcapture:"
        return RedisThrottle(settings.redis_url, f"{prefix}throttle:{relay_key(settings)}", rate, burst)
    return LocalThrottle(rate, burst)


_lock = threading.Lock()


def throttle_for(services: Any) -> Throttle:
    """The throttle of this Services, made once (one per process, like its transport)."""
    with _lock:
        throttle = services.__dict__.get("_send_throttle")
        if throttle is None:
            throttle = services.__dict__["_send_throttle"] = make_throttle(services.settings)
    return throttle
