"""Parsing single setting values; a bad value is a ConfigError that tells the operator what to do."""

from __future__ import annotations

import ipaddress
from typing import Any


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message tells the operator what to do."""


def split(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return value
    return [p.strip() for p in value.split(",") if p.strip()]


def as_int(key: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"LEADCAPTURE_{key} must be a whole number, got {value!r}.") from exc


def as_float(key: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"LEADCAPTURE_{key} must be a number, got {value!r}.") from exc


def as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"LEADCAPTURE_{key} must be true or false, got {value!r}.")


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> list[IPNetwork]:
    """Comma-separated networks (`10.0.0.0/8, 127.0.0.1`); ValueError names a bad one."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]
