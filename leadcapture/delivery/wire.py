"""Fast serialisation of our outgoing messages: the wire bytes are built directly.

email.message.EmailMessage costs ~1.5 ms per message (header objects, content managers,
generator); a worker sending hundreds per second spends its time there. Our messages always
have the same shape (multipart/alternative, text + HTML, quoted-printable UTF-8), so we write
that shape directly. Headers that are plain short ASCII are written as they are; anything else
goes through the standard library's RFC 2047 folding. The result parses back to the same
message (tests/unit/delivery/test_wire.py); reading it as an EmailMessage parses it on first use.
Every message we send is built here: templated mail through templates.compose, campaign content
through the content renderer, which calls compose with its pre-rendered parts.

Internationalised addresses: a domain goes on the wire in A-labels (`mail_address`), so only an
address with a non-ASCII local part needs SMTPUTF8 (RFC 6531); its header is then written as
UTF-8 (RFC 6532, email.policy.SMTPUTF8), never as RFC 2047 words, which an address may not hold.
"""

from __future__ import annotations

import binascii
import secrets
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

import idna

_UTF8 = policy.default.clone(utf8=True)  # RFC 6532 header text, LF line ends like the rest of the build
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender"})


@lru_cache(maxsize=1024)
def mail_address(address: str) -> str:
    """The address as it goes into the envelope and the To header: its domain in A-labels (IDNA 2008).

    jan@bücher.example becomes jan@xn--bcher-kva.example, plain ASCII that every relay takes; a
    non-ASCII local part stays as it is and needs SMTPUTF8. A domain IDNA refuses is left as typed.
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address


def header_line(name: str, value: str) -> str:
    """One header field, folded and RFC 2047-encoded where needed; refuses CR/LF injection."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} must not contain CR or LF")
    if value.isascii():
        if len(name) + len(value) + 2 <= 78:
            return f"{name}: {value}\n"
        return _fold_ascii(name, value)
    return _folded(name, value)


def _fold_ascii(name: str, value: str) -> str:
    # Fold at spaces (RFC 5322 2.2.3), never inside a word: URLs stay intact (RFC 2369).
    lines, line = [], f"{name}:"
    for i, word in enumerate(value.split(" ")):
        if i and len(line) + 1 + len(word) > 78:  # the first word stays on the name's line
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=1024)
def _folded(name: str, value: str) -> str:
    # An address with a non-ASCII local part has no RFC 2047 form: it is written as UTF-8.
    international = name.lower() in _ADDRESS_HEADERS and not parseaddr(value)[1].isascii()
    chosen = _UTF8 if international else policy.default
    return chosen.header_factory(name, value).fold(policy=chosen)


def qp(text: str) -> bytes:
    """Quoted-printable UTF-8 body (RFC 2045), LF line ends, soft breaks at 76 characters."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True, header=False)


class OutgoingMessage:
    """A ready-to-send message: its bytes, its headers; other EmailMessage reads parse it once.

    Header values are checked and folded when the message is made, so a header injection is
    refused where the message is built, not later in the transport.
    """

    envelope_sender: str | None = None  # the SMTP MAIL FROM (VERP return path); None: the From address

    def __init__(self, headers: list[tuple[str, str]], text: str, html: str):
        self._lines = [header_line(name, value) for name, value in headers]
        self._headers = list(headers)
        self._text, self._html = text, html
        self._parsed: EmailMessage | None = None
        self._bytes: bytes | None = None
        self._wire: bytes | None = None

    # --- the parts of the EmailMessage API our code and tests use ------------------------
    def __getitem__(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self._headers:
            if key.lower() == lowered:
                return value
        return None

    def get(self, name: str, default: Any = None) -> Any:
        """The first value of header name, or default."""
        value = self[name]
        return default if value is None else value

    def __contains__(self, name: str) -> bool:
        return self[name] is not None

    def __setitem__(self, name: str, value: str) -> None:
        self._lines.append(header_line(name, str(value)))
        self._headers.append((name, str(value)))
        self._bytes = self._wire = self._parsed = None

    def __delitem__(self, name: str) -> None:
        kept = [(h, line) for h, line in zip(self._headers, self._lines, strict=True) if h[0].lower() != name.lower()]
        self._headers, self._lines = [h for h, _ in kept], [line for _, line in kept]
        self._bytes = self._wire = self._parsed = None

    def keys(self) -> list[str]:
        """Header names in order."""
        return [k for k, _ in self._headers]

    def as_bytes(self, unixfrom: bool = False, policy: Any = None) -> bytes:
        """The message; with policy.SMTP (or any policy with linesep CRLF) in CRLF form for the wire."""
        if self._bytes is None:
            self._bytes = self._build()
        if policy is not None and policy.linesep == "\r\n":
            if self._wire is None:
                self._wire = self._bytes.replace(b"\n", b"\r\n")
            return self._wire
        return self._bytes

    def as_string(self, unixfrom: bool = False, policy: Any = None) -> str:
        """The message as text."""
        return self.as_bytes(policy=policy).decode("utf-8")

    def __bytes__(self) -> bytes:
        return self.as_bytes()

    def __str__(self) -> str:
        return self.as_string()

    def __getattr__(self, attribute: str) -> Any:
        # Anything else (get_body, walk, iter_parts, ...) reads the parsed message.
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        if self._parsed is None:
            self._parsed = BytesParser(policy=policy.default).parsebytes(self.as_bytes())
        return getattr(self._parsed, attribute)

    def _build(self) -> bytes:
        boundary = "=_" + secrets.token_hex(12)  # "=_" never occurs in quoted-printable text
        head = "".join(self._lines)
        head += f'MIME-Version: 1.0\nContent-Type: multipart/alternative;\n boundary="{boundary}"\n\n'
        part = 'Content-Type: text/{}; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n'
        marker = f"--{boundary}\n".encode()
        return b"".join(
            [
                head.encode("utf-8"),  # ASCII unless an address needs SMTPUTF8
                marker,
                part.format("plain").encode(),
                qp(self._text),
                b"\n" if not self._text.endswith("\n") else b"",
                b"\n",
                marker,
                part.format("html").encode(),
                qp(self._html),
                b"\n" if not self._html.endswith("\n") else b"",
                f"\n--{boundary}--\n".encode(),
            ]
        )
