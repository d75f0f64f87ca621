"""Data-key rotation: re-encrypt every `*_enc` column with the newest key, in resumable batches.

Rotation is idempotent: a value already encrypted with the current key is left alone, and each
batch commits on its own, so an interrupted run is finished by running it again. Every update is
a compare-and-set on the old ciphertext, so a concurrent change to the same cell is never
overwritten. The blind index does not change (see crypto.Vault); `check_index_key` refuses to
work against a database whose addresses were indexed with another key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Column, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from leadcapture.crypto import Vault
from leadcapture.db import Database
from leadcapture.models import Base, Setting

INDEX_KEY_SETTING = "blind_index_key_id"


class IndexKeyMismatch(RuntimeError):
    """The configured blind-index key is not the one the database was indexed with."""


@dataclass
class EncryptedTable:
    """A table with its primary key and its encrypted columns."""

    table: Table
    key: Column
    columns: list[Column]


def encrypted_tables() -> list[EncryptedTable]:
    """Every table with columns named *_enc (other modules' new tables are included too)."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if c.name.endswith("_enc")]
        if columns:
            (key,) = table.primary_key.columns
            found.append(EncryptedTable(table, key, columns))
    return found


def _stale(vault: Vault, columns: list[Column]):
    prefix = vault.current_prefix
    return or_(*(and_(c.isnot(None), ~c.startswith(prefix, autoescape=True)) for c in columns))


def pending(session: Session, vault: Vault) -> dict[str, int]:
    """Rows per table that still hold a value encrypted with an older key."""
    return {
        t.table.name: session.scalar(select(func.count()).select_from(t.table).where(_stale(vault, t.columns))) or 0
        for t in encrypted_tables()
    }


def rotate(
    db: Database, vault: Vault, *, batch: int = 500, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Re-encrypt stale values with the current key; return the values rewritten per table."""
    rewritten: dict[str, int] = {}
    for t in encrypted_tables():
        rewritten[t.table.name] = 0
        for rows in _batches(db, vault, t, batch):
            with db.session() as session:
                rewritten[t.table.name] += _rewrite(session, vault, t, rows)
            if progress is not None:
                progress(len(rows))
    return rewritten


def _batches(db: Database, vault: Vault, t: EncryptedTable, batch: int) -> Iterator[list]:
    last = None
    while True:
        stmt = select(t.key, *t.columns).where(_stale(vault, t.columns)).order_by(t.key).limit(batch)
        if last is not None:
            stmt = stmt.where(t.key > last)
        with db.session() as session:
            rows = session.execute(stmt).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _rewrite(session: Session, vault: Vault, t: EncryptedTable, rows: list) -> int:
    """Re-encrypt one batch with one executemany per set of stale columns; return values written."""
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for key_value, *values in rows:
        params: dict = {"pk_": key_value}
        for column, token in zip(t.columns, values, strict=True):
            if vault.needs_rotation(token):
                params[f"old_{column.name}"] = token
                params[f"new_{column.name}"] = vault.encrypt(vault.decrypt(token))
        names = tuple(c.name for c in t.columns if f"old_{c.name}" in params)
        if names:
            groups[names].append(params)
    written = 0
    for names, params_list in groups.items():
        stmt = (
            update(t.table)
            .where(t.key == bindparam("pk_"), *(t.table.c[n] == bindparam(f"old_{n}") for n in names))
            .values({n: bindparam(f"new_{n}") for n in names})
        )
        written += session.connection().execute(stmt, params_list).rowcount * len(names)
    return written


def check_index_key(session: Session, vault: Vault) -> None:
    """Record the blind-index key's fingerprint on first use; raise if another key is configured."""
    stored = session.get(Setting, INDEX_KEY_SETTING)
    if stored is None:
        session.add(Setting(name=INDEX_KEY_SETTING, value=vault.index_key_id))
        session.flush()
        return
    if stored.value != vault.index_key_id:
        raise IndexKeyMismatch(
            f"the blind index of this database was made with key {stored.value}, but the configured "
            f"settings give {vault.index_key_id}: lookups and the suppression list would silently fail. "
            "Restore the oldest LEADCAPTURE_DATA_KEY or the LEADCAPTURE_INDEX_KEY you used before."
        )
