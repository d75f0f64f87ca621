"""The printable proof-of-consent page (R4.3), rendered from `rights.export_person` output."""

from __future__ import annotations

from typing import Any

import jinja2

_env = jinja2.Environment(
    autoescape=True, loader=jinja2.PackageLoader("leadcapture", "templates"), undefined=jinja2.StrictUndefined
)


def render_proof(export: dict[str, Any], *, stylesheet_href: str | None = None) -> str:
    """A standalone HTML page; pass stylesheet_href to link CSS instead of inlining it (strict CSP)."""
    return _env.get_template("proof.html").render(x=export, stylesheet_href=stylesheet_href)
