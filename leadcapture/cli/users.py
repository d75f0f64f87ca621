"""`leadcapture users`: admin accounts (create, list, set a new password, reset the second factor, disable)."""

from __future__ import annotations

import click
from sqlalchemy import select

from leadcapture.backoffice import twofactor
from leadcapture.backoffice.accounts import (
    AccountError,
    audit,
    create_user,
    end_sessions,
    generate_password,
    normalise,
    set_password,
)
from leadcapture.cli.context import Runtime
from leadcapture.models import ROLES, AdminUser, utcnow


@click.group()
def users() -> None:
    """Admin accounts (roles: marketer, privacy, admin)."""


def _password(prompt: bool) -> tuple[str, bool]:
    """The password typed at the prompt, or a generated one-time password (and True)."""
    if prompt:
        return click.prompt("Password", hide_input=True, confirmation_prompt=True), False
    return generate_password(), True


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the account may do.")
@click.option("--password-prompt", is_flag=True, help="Ask for the password instead of generating one.")
@click.pass_obj
def users_create(runtime: Runtime, email: str, role: str, password_prompt: bool) -> None:
    """Create an account; prints a one-time password unless --password-prompt is given."""
    services = runtime.services
    password, generated = _password(password_prompt)
    try:
        with services.db.session() as session:
            user = create_user(session, email, role, password, one_time=generated)
            audit(session, None, "user.create", user.email, detail={"role": role, "via": "cli"})
            created = user.email
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {role} {created}")
    if generated:
        click.echo(f"one-time password: {password}")
        click.echo("  (shown once; it must be changed at the first sign-in)")
    click.echo(f"  log in at {services.settings.base_url}/admin/")


@users.command("password")
@click.argument("email")
@click.option("--password-prompt", is_flag=True, help="Ask for the password instead of generating one.")
@click.pass_obj
def users_password(runtime: Runtime, email: str, password_prompt: bool) -> None:
    """Set a new password (ends the account's sessions)."""
    services = runtime.services
    password, generated = _password(password_prompt)
    try:
        with services.db.session() as session:
            user = _user(session, email)
            set_password(user, password, one_time=generated)
            audit(session, None, "user.password", user.email, detail={"via": "cli"})
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"password changed for {email}")
    if generated:
        click.echo(f"one-time password: {password}")


@users.command("reset-2fa")
@click.argument("email")
@click.pass_obj
def users_reset_2fa(runtime: Runtime, email: str) -> None:
    """Turn an account's second factor off (a lost phone) and end its sessions; they enrol again."""
    try:
        with runtime.services.db.session() as session:
            user = _user(session, email)
            twofactor.disable(user)
            end_sessions(user)
            audit(session, None, "user.2fa.disable", user.email, detail={"via": "cli"})
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"second factor off for {email}; they set up their app again at the next sign-in")


def _user(session, email: str) -> AdminUser:
    user = session.scalar(select(AdminUser).where(AdminUser.email == normalise(email)))
    if user is None:
        raise AccountError(f"no user with email {email}")
    return user


@users.command("disable")
@click.argument("email")
@click.pass_obj
def users_disable(runtime: Runtime, email: str) -> None:
    """Disable an account and end its sessions."""
    services = runtime.services
    try:
        with services.db.session() as session:
            user = _user(session, email)
            user.disabled_at = utcnow()
            end_sessions(user)
            audit(session, None, "user.disable", user.email, detail={"via": "cli"})
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"disabled {email}")


@users.command("list")
@click.pass_obj
def users_list(runtime: Runtime) -> None:
    """List the accounts."""
    services = runtime.services
    with services.db.session() as session:
        rows = session.scalars(select(AdminUser).order_by(AdminUser.email)).all()
        for user in rows:
            state = "disabled" if user.disabled_at else "active"
            last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "never"
            click.echo(f"{user.email}\t{user.role}\t{state}\tlast login: {last}")
    if not rows:
        click.echo("no users yet: `leadcapture users create EMAIL --role admin`")
