"""gunicorn's access log without personal data (`--logger-class leadcapture.web.gunicorn_log.AccessLogger`).

gunicorn loads this by name, so the CLI never imports the web layer; the IP minimisation mode comes
from LEADCAPTURE_IP_MINIMISATION, as the app's own settings do.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

from leadcapture.settings import DEFAULTS
from leadcapture.web.accesslog import client, mask_tokens


class MaskedAtoms(SafeAtoms):
    """gunicorn's access log fields, link tokens masked in each field the log format reads.

    A line reads a few of the fifty or so fields (every header and environ variable is one):
    masking as they are read spares the others.
    """

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        return mask_tokens(value) if isinstance(value, str) else value


class AccessLogger(Logger):
    """gunicorn's logger, with the client address minimised and link tokens masked in every access log field."""

    atoms_wrapper_class = MaskedAtoms

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        """The access log fields of one request, the client address minimised (MaskedAtoms masks the tokens)."""
        atoms = super().atoms(resp, req, environ, request_time)
        mode = os.environ.get("LEADCAPTURE_IP_MINIMISATION") or DEFAULTS["IP_MINIMISATION"]
        atoms["h"] = client(environ.get("REMOTE_ADDR"), mode)
        return atoms
