"""`leadcapture brands`: the controllers forms belong to, with their sender, look and sales address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from leadcapture.backoffice.accounts import audit
from leadcapture.cli.context import Runtime
from leadcapture.consent import brands, formdefs
from leadcapture.consent.brands import BrandError
from leadcapture.models import Brand


def _options(command):
    """The settings every brand has, as options (add and edit take the same)."""
    for name, help_text in reversed(
        [
            ("name", "Display name, e.g. Voorbeeld B.V."),
            ("controller", "The controller as notices show it: name, postal address, privacy contact."),
            ("sender-name", "From name of its mail (default: the display name)."),
            ("sender-address", "From address of its mail (empty: LEADCAPTURE_MAIL_FROM)."),
            ("reply-to", "Reply-To address of its mail (empty: none)."),
            ("sales-address", "Where lead notifications go (a phone purpose confirmed; empty: none)."),
            ("colour", "Brand colour, #rrggbb."),
            ("authority-name", "Supervisory authority named in the rights notice."),
            ("authority-url", "https:// page of that authority."),
        ]
    ):
        command = click.option(f"--{name}", help=help_text)(command)
    return click.option(
        "--logo", type=click.Path(dir_okay=False, path_type=Path), help="PNG or JPEG logo, at most 200 KB."
    )(command)


def _values(options: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None and key != "logo"}


def _fail(exc: BrandError) -> None:
    click.echo("brand not saved:", err=True)
    for problem in exc.problems:
        click.echo(f"  - {problem}", err=True)
    raise SystemExit(2)


def _read_logo(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        with path.open("rb") as fh:
            return fh.read(brands.MAX_LOGO_BYTES + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc


@click.group("brands")
def brands_cmd() -> None:
    """Brands (controllers): forms belong to one; audiences are a purpose of a brand."""


@brands_cmd.command("add")
@click.argument("slug")
@_options
@click.pass_obj
def brands_add(runtime: Runtime, slug: str, **options: Any) -> None:
    """Add the brand SLUG (--name and --controller are required)."""
    logo = _read_logo(options["logo"])
    try:
        with runtime.services.db.session() as session:
            brand = brands.add(session, {"slug": slug, **_values(options)})
            if logo is not None:
                brands.set_logo(brand, logo)
            audit(session, None, "brand.add", slug, detail={"via": "cli"})
    except BrandError as exc:
        _fail(exc)
    click.echo(f"brand {slug!r} added")


@brands_cmd.command("edit")
@click.argument("slug")
@_options
@click.option("--no-logo", is_flag=True, help="Remove the logo.")
@click.pass_obj
def brands_edit(runtime: Runtime, slug: str, no_logo: bool, **options: Any) -> None:
    """Change settings of the brand SLUG; a new controller text makes new versions of its forms."""
    logo = _read_logo(options["logo"])
    try:
        with runtime.services.db.session() as session:
            brand = brands.by_slug(session, slug)
            if brand is None:
                raise click.ClickException(f"no brand {slug!r} (leadcapture brands list)")
            changed = brands.edit(session, brand, _values(options))
            if logo is not None or no_logo:
                brands.set_logo(brand, None if no_logo else logo)
                changed.append("logo")
            versions = formdefs.rebrand(session, brand) if "controller" in changed else []
            if changed:
                audit(session, None, "brand.edit", slug, detail={"via": "cli", "changed": changed})
    except BrandError as exc:
        _fail(exc)
    if not changed:
        click.echo(f"brand {slug!r}: nothing changed")
        return
    click.echo(f"brand {slug!r}: changed {', '.join(changed)}")
    for version in versions:
        click.echo(f"  form {version.definition['slug']!r} now at version {version.number} (the new controller text)")


@brands_cmd.command("list")
@click.pass_obj
def brands_list(runtime: Runtime) -> None:
    """Every brand with its sender and sales address."""
    with runtime.services.db.session() as session:
        rows = session.scalars(select(Brand).order_by(Brand.slug)).all()
        fallback = runtime.services.settings.mail_from
        if not rows:
            click.echo("no brands yet: leadcapture brands add SLUG --name NAME --controller TEXT")
            return
        for brand in rows:
            click.echo(f"{brand.slug}: {brand.name}")
            click.echo(f"  controller: {brand.controller}")
            click.echo(f"  from: {brands.sender(brand, fallback)}{'' if brand.sender_address else ' (the default)'}")
            click.echo(f"  reply-to: {brand.reply_to or '-'}   sales: {brand.sales_address or '-'}")
            click.echo(f"  colour: {brand.colour}   logo: {brand.logo_type or '-'}   authority: {brand.authority_name}")
