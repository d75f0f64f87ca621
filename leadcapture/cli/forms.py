"""`leadcapture forms`: form definitions in and out as TOML."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from leadcapture.cli.context import Runtime
from leadcapture.consent.formdefs import FormDefinitionError, load_toml, save, to_toml
from leadcapture.consent.versions import current_version
from leadcapture.models import Brand


@click.group()
def forms() -> None:
    """Form definitions (TOML)."""


@forms.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def forms_import(runtime: Runtime, file: Path) -> None:
    """Import a form definition; changed wording makes a new version."""
    services = runtime.services
    try:
        definition, asset = load_toml(file)
    except FormDefinitionError as exc:
        click.echo(f"{file}: not imported:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    try:
        with services.db.session() as session:
            version, created = save(session, definition, asset)
            number, chash = version.number, version.content_hash
            brand = session.get(Brand, version.form.brand_id)
            brand_slug, has_sender = brand.slug, bool(brand.sender_address)
    except FormDefinitionError as exc:  # a brand it names does not exist
        click.echo(f"{file}: not imported:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    state = "imported as" if created else "unchanged, still"
    click.echo(f"form {definition['slug']!r} {state} version {number} ({chash[:12]})")
    click.echo(f"  hosted form: {services.settings.base_url}/f/{definition['slug']}")
    click.echo(f"  brand:       {brand_slug}")
    if not has_sender:  # its mail would go out from the fallback, noreply@localhost in development
        click.echo(
            f"  mail from:   {services.settings.mail_from} (LEADCAPTURE_MAIL_FROM): brand {brand_slug!r} has no "
            f"sender; give it one with `leadcapture brands edit {brand_slug} --sender-address ...`"
        )


@forms.command("export")
@click.argument("slug")
@click.pass_obj
def forms_export(runtime: Runtime, slug: str) -> None:
    """Print the live definition of a form as TOML."""
    with runtime.services.db.session() as session:
        version = current_version(session, slug)
        if version is None:
            raise click.ClickException(f"no form with slug {slug!r}")
        click.echo(to_toml(version), nl=False)
