"""A self-hosted, hashcash-style proof of work: no third-party service, no cookie.

The browser (leadcapture/static/pow.js) finds a nonce such that SHA-256 of
"<form token>:<email as typed>:<nonce>" starts with `bits` zero bits. Tying it to the signed form
token and to the address makes every (form view, address) pair cost fresh work, so list-bombing
many addresses costs the sender CPU time; one hash verifies it here.
"""

from __future__ import annotations

import hashlib

MAX_NONCE_LENGTH = 20


def leading_zero_bits(digest: bytes) -> int:
    """How many leading zero bits digest has."""
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def challenge(token: str, email: str, nonce: str) -> bytes:
    """The bytes that are hashed."""
    return f"{token}:{email}:{nonce}".encode()


def verify(token: str, email: str, nonce: str, bits: int) -> bool:
    """True when nonce is a decimal number that gives the hash at least `bits` leading zero bits."""
    if bits <= 0:
        return True
    if not nonce or len(nonce) > MAX_NONCE_LENGTH or not nonce.isascii() or not nonce.isdigit():
        return False
    return leading_zero_bits(hashlib.sha256(challenge(token, email, nonce)).digest()) >= bits


def solve(token: str, email: str, bits: int) -> str:
    """Find a nonce (what pow.js does in the browser); for tests and scripted clients."""
    nonce = 0
    while not verify(token, email, str(nonce), bits):
        nonce += 1
    return str(nonce)
