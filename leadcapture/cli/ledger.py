"""`leadcapture ledger`: verify, seal and anchor the consent ledger's keyed chain."""

from __future__ import annotations

import json
import sys

import click

from leadcapture import scheduler
from leadcapture.cli.context import Runtime
from leadcapture.consent.ledger import HeadMissing, Keyring
from leadcapture.consent.ledger_verify import Problem, check_anchor, make_anchor, verify
from leadcapture.models import utcnow


@click.group()
def ledger() -> None:
    """The consent ledger."""


@ledger.command("verify")
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="An anchor file from `ledger anchor`; the chain must still hold its head. Repeatable.",
)
@click.pass_obj
def ledger_verify(runtime: Runtime, anchors: tuple[str, ...]) -> None:
    """Check every sealed event and the anchors; each problem is "event N: ..." on stderr, then exit 1."""
    services = runtime.services
    keyring = Keyring(services.settings.ledger_keys)
    documents = [(path, _read_anchor(path)) for path in anchors]
    with services.db.session() as session:
        report = verify(session, services.vault, keyring)
        for path, doc in documents:
            problem = check_anchor(session, keyring, doc)
            if isinstance(problem, Problem):
                report.problems.append(Problem(problem.seq, f"{problem.reason} [anchor {path}]"))
            elif problem is not None:
                click.echo(f"anchor {path}: {problem}", err=True)
                sys.exit(1)
    for problem in report.problems:
        click.echo(str(problem), err=True)
    if report.unsealed:
        age = (utcnow() - report.oldest_unsealed).total_seconds()
        click.echo(f"not sealed yet: {report.unsealed} event(s), the oldest {age:.0f}s old (not covered by this check)")
    if report.problems:
        click.echo(f"ledger BROKEN: {len(report.problems)} problem(s) in {report.sealed} sealed events", err=True)
        sys.exit(1)
    held = f"; {len(anchors)} anchor(s) still in the chain" if anchors else ""
    click.echo(f"ledger OK: {report.sealed} events, chain intact{held}")


@ledger.command("seal")
@click.pass_obj
def ledger_seal(runtime: Runtime) -> None:
    """Chain every committed event now (the sealer of `serve`, `worker` and `scheduler` does it every second)."""
    services = runtime.services
    holder = scheduler.holder_id()
    try:
        sealed = scheduler.seal_once(services, holder, utcnow())
    except HeadMissing as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        scheduler.release(services.db, scheduler.SEALER, holder)
    if sealed is None:
        click.echo("another process holds the sealer lease and seals the ledger; nothing done")
        return
    click.echo(f"sealed {sealed} event(s)")


@ledger.command("anchor")
@click.pass_obj
def ledger_anchor(runtime: Runtime) -> None:
    """Print the signed head of the sealed chain as JSON, to keep outside the system."""
    services = runtime.services
    with services.db.session() as session:
        doc = make_anchor(session, Keyring(services.settings.ledger_keys))
    click.echo(json.dumps(doc, indent=2))


def _read_anchor(path: str) -> object:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        click.echo(f"anchor {path}: cannot read it as JSON ({exc})", err=True)
        sys.exit(1)
