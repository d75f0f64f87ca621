"""CLI for privacy by design: `people`, `keys`, `register` and `scheduler` (SPEC section 9)."""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import threading

import click
from sqlalchemy.orm import Session

from leadcapture import scheduler
from leadcapture.cli.context import Runtime
from leadcapture.consent import outbox
from leadcapture.consent.people import AddressError, find_person, valid_address
from leadcapture.crypto import normalise_email
from leadcapture.integrations import imports
from leadcapture.integrations.csvrows import FileError
from leadcapture.models import Person, Suppression, utcnow
from leadcapture.privacy import records
from leadcapture.privacy.keyrotation import IndexKeyMismatch, check_index_key, pending, rotate
from leadcapture.privacy.proof import render_proof
from leadcapture.privacy.rights import erase_person, export_person
from leadcapture.services import Services

# --- people ----------------------------------------------------------------------------------


@click.group()
def people() -> None:
    """Data-subject rights: access, erasure, suppression; import of contacts consented elsewhere."""


def _find(session: Session, services: Services, email: str) -> Person:
    """The person with this address, or a clear exit 1 (the operator is authenticated)."""
    person = find_person(session, services.vault, email)
    if person is not None:
        return person
    suppressed = session.get(Suppression, services.vault.blind_index(normalise_email(email)))
    if suppressed is not None:
        click.echo(
            f"no personal data held for {email}; the address is on the suppression list "
            f"(reason: {suppressed.reason}, since {suppressed.created_at:%Y-%m-%d})",
            err=True,
        )
    else:
        click.echo(f"no person with address {email}", err=True)
        try:
            valid_address(email)
        except AddressError as exc:  # looked up as typed all the same: such an address may predate the rule
            if exc.suggestion:
                click.echo(f"the address {exc}", err=True)
    sys.exit(1)


@people.command("export")
@click.argument("email")
@click.option("--format", "fmt", type=click.Choice(["json", "html"]), default="json", show_default=True)
@click.pass_obj
def people_export(runtime: Runtime, email: str, fmt: str) -> None:
    """Print everything held about EMAIL with the proof of consent (JSON, or a printable HTML page)."""
    services = runtime.services
    with services.db.session() as session:
        data = export_person(session, services.vault, _find(session, services, email))
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if fmt == "json" else render_proof(data))


@people.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def people_erase(runtime: Runtime, email: str, yes: bool) -> None:
    """Erase EMAIL's personal data, keep the ledger verifiable and suppress the address."""
    services = runtime.services
    with services.db.session() as session:
        person = _find(session, services, email)
        if not yes and not click.confirm(
            f"Erase all personal data of {email} (person {person.id}) and suppress the address?", err=True
        ):
            click.echo("nothing erased", err=True)
            sys.exit(1)
        person_id = person.id
        counts = erase_person(session, services.vault, person, method="admin", forget_mail=services.forget_mail)
    click.echo(
        f"erased person {person_id}: {counts['consents']} consent(s), {counts['submissions']} submission(s), "
        f"{counts['ledger_payloads']} ledger payload(s); the address is suppressed"
    )


@people.command("unsuppress")
@click.argument("email")
@click.pass_obj
def people_unsuppress(runtime: Runtime, email: str) -> None:
    """Lift a suppression after the person asked for it from that mailbox (see README)."""
    services = runtime.services
    with services.db.session() as session:
        row = session.get(Suppression, services.vault.blind_index(normalise_email(email)))
        if row is None:
            click.echo(f"{email} is not suppressed", err=True)
            sys.exit(1)
        reason = row.reason
        session.delete(row)
    click.echo(f"suppression of {email} lifted (was: {reason}); a new form submission now gets a confirmation")


@people.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--dry-run", is_flag=True, help="Report what each row would do; change nothing.")
@click.pass_obj
def people_import(runtime: Runtime, file, dry_run: bool) -> None:
    """Import contacts consented elsewhere from a CSV FILE, with their provenance (see README).

    Exit status: 0 every row was read, 1 some rows were invalid (the others were imported),
    2 the file could not be read (nothing imported).
    """
    services = runtime.services
    name = os.path.basename(file.name)
    provenance = imports.Provenance(file=name, actor="command line")

    def run(on_result, progress=None):
        return imports.import_csv(
            services.db, services.vault, file, provenance, dry_run=dry_run, on_result=on_result, progress=progress
        )

    try:
        if dry_run:  # every row, as it would go
            counts = run(lambda result: click.echo(str(result)))
        else:  # a progress bar over the file's bytes; only the rows not imported are listed
            size = os.fstat(file.fileno()).st_size if file.seekable() else 0
            with click.progressbar(length=max(size, 1), label=f"importing {name}", file=sys.stderr) as bar:
                counts = run(_unless_imported, bar.update)
    except FileError as exc:
        click.echo(f"{name}: {exc}; nothing imported", err=True)
        sys.exit(2)
    click.echo(("dry run, nothing changed: " if dry_run else "done: ") + imports.summary(counts))
    if not dry_run and counts[imports.UNVERIFIED_ROW]:
        click.echo(f"{counts[imports.UNVERIFIED_ROW]} re-permission email(s) queued for the unverified rows")
        if services.settings.broker_url:
            outbox.relay_now(services)
    if counts[imports.INVALID] and not dry_run:
        sys.exit(1)


def _unless_imported(result: imports.Result) -> None:
    if result.outcome not in (imports.CREATED, imports.UNVERIFIED_ROW):
        click.echo(str(result))


# --- keys ------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Encryption keys: status and rotation."""


def _checked(services: Services) -> None:
    try:
        with services.db.session() as session:
            check_index_key(session, services.vault)
    except IndexKeyMismatch as exc:
        raise click.ClickException(str(exc)) from exc


@keys.command("status")
@click.pass_obj
def keys_status(runtime: Runtime) -> None:
    """Show the configured keys and how many rows still use an older one."""
    services = runtime.services
    _checked(services)
    vault = services.vault
    click.echo(f"data keys (newest first): {', '.join(vault.key_ids)}; encrypting with {vault.current_key_id}")
    source = "LEADCAPTURE_INDEX_KEY" if services.settings.index_key_text else "derived from the oldest data key"
    click.echo(f"blind index key: {vault.index_key_id} ({source})")
    with services.db.session() as session:
        counts = pending(session, vault)
    total = sum(counts.values())
    click.echo(f"rows with values under an older key: {total}" + "".join(f"\n  {t}: {n}" for t, n in counts.items()))


@keys.command("rotate")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.pass_obj
def keys_rotate(runtime: Runtime, batch: int) -> None:
    """Re-encrypt every encrypted value with the newest key (put it first in LEADCAPTURE_DATA_KEY)."""
    services = runtime.services
    _checked(services)
    with services.db.session() as session:
        total = sum(pending(session, services.vault).values())
    click.echo(f"re-encrypting {total} row(s) with key {services.vault.current_key_id}")
    with click.progressbar(length=total, label="rotating", file=sys.stderr) as bar:
        counts = rotate(services.db, services.vault, batch=batch, progress=bar.update)
    click.echo(f"done: {sum(counts.values())} value(s) re-encrypted" + "".join(f"; {t} {n}" for t, n in counts.items()))
    if len(services.vault.key_ids) > 1:
        if services.settings.index_key_text:
            click.echo("the older data keys are no longer used: remove them from LEADCAPTURE_DATA_KEY")
        else:
            click.echo(
                "the blind index still uses the oldest data key: keep it in LEADCAPTURE_DATA_KEY, or pin "
                "the index first (`leadcapture keys index-key`) and then remove the older keys"
            )


@keys.command("index-key")
@click.pass_obj
def keys_index_key(runtime: Runtime) -> None:
    """Print the blind-index key as a LEADCAPTURE_INDEX_KEY setting (keep it secret)."""
    services = runtime.services
    _checked(services)
    click.echo(f"LEADCAPTURE_INDEX_KEY={base64.urlsafe_b64encode(services.vault.index_key).decode()}")


# --- register --------------------------------------------------------------------------------


@click.command("register")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html", "json"]), default="markdown", show_default=True)
@click.pass_obj
def register_cmd(runtime: Runtime, fmt: str) -> None:
    """Print the records of processing activities (GDPR Art. 30) generated from the forms."""
    services = runtime.services
    with services.db.session() as session:
        data = records.build(session, services.settings)
    if not data["activities"]:
        click.echo("no forms imported yet: `leadcapture forms import FILE.toml` first", err=True)
        sys.exit(1)
    render = {"markdown": records.to_markdown, "html": records.to_html, "json": records.to_json}[fmt]
    click.echo(render(data))


# --- scheduler -------------------------------------------------------------------------------


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run the periodic jobs once now (if no other process holds the lease).")
@click.pass_obj
def scheduler_cmd(runtime: Runtime, once: bool) -> None:
    """Run retention, expiry and re-permission jobs; safe on many machines (a lease picks one)."""
    services = runtime.services
    relay = bool(services.settings.broker_url)  # embedded, `leadcapture serve` relays and runs the jobs
    if once:
        holder = scheduler.holder_id()
        try:
            report = scheduler.run_once(services, holder, utcnow(), relay)
        finally:
            scheduler.release(services.db, scheduler.LEASE, holder)
        if report is None:
            click.echo("another process holds the scheduler lease; nothing done")
            return
        purged = report["purged"]
        click.echo(
            f"purged {purged['requests']} unconfirmed request(s), {purged['submissions']} submission(s), "
            f"{purged['people']} person(s); expired {report['expired']} consent(s); "
            f"queued {report['repermission_queued']} re-permission email(s), "
            f"{report['webhooks_retried']} webhook retry(ies)"
        )
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo(f"scheduler running every {services.settings.scheduler_interval}s; Ctrl-C to stop")
    scheduler.start_sealer(services, stop)
    scheduler.loop(services, stop, relay=relay, first_delay=0.1)
