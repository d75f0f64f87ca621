"""Engine and sessions: one Database per app; one session per request or job."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: writers of different processes wait inside SQLite
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# The largest value of an INTEGER column on PostgreSQL; a larger id names no row, and binding it
# would fail ("integer out of range"; on SQLite beyond 2**63, "int too large").
MAX_ID = 2**31 - 1


def row_id(text: str) -> int:
    """A row id typed into a URL or a form: ASCII digits, 1 to MAX_ID; ValueError for anything else."""
    if not (text.isascii() and text.isdigit()) or not 1 <= (value := int(text)) <= MAX_ID:
        raise ValueError(f"{text[:40]!r} is not a row id")
    return value


class Database:
    """Holds the engine and the session factory for one database URL.

    `threads` is how many threads of this process may hold a connection at once. The pool keeps
    that many open once they were needed (it opens them lazily): a pool smaller than the threads
    closes a connection on every return above its size and opens a new one on the next checkout,
    which on PostgreSQL starts a server process each time.
    """

    def __init__(self, url: str, *, threads: int = 5, **engine_options: Any):
        engine_options.setdefault("pool_size", threads)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine_options.setdefault("connect_args", {"timeout": 30})
        self.url = url
        self.engine: Engine = create_engine(url, **engine_options)
        if self.engine.dialect.name != "sqlite":
            _ping_when_idle(self.engine)
        else:
            path = self.engine.url.database
            shared = path not in (None, "", ":memory:")  # a file other processes may open too
            writer = _SqliteWriter(self.engine.dialect, _FileLock(f"{path}-writer") if shared else None)
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", writer.begin)
            event.listen(self.engine, "checkin", writer.checkin)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = _GroupWriter(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def write(self, statement: Any, params: dict[str, Any], *, wait: bool = True) -> None:
        """Run a one-statement write and return once it is committed; concurrent ones share a commit.

        The bookkeeping after a send (a message's mark, an outbox job done) is one small write per
        job, from many threads at once. Each is as durable when this returns as in a transaction
        of its own, but the threads' writes waiting at the same moment go in one transaction, one
        executemany per statement: one connection checkout, one commit (and on SQLite, one turn at
        the writer lock) for all of them.

        wait=False is for a write whose loss costs only repeated work (an outbox job marked done:
        without it the job is published once more, and its send is idempotent). The call returns
        at once; the write goes in the next transaction of writes, a running one's or the next
        waited write's, and at the latest after a quarter of a second in one of its own. So a
        worker's outbox bookkeeping rides with the next message's mark instead of costing a
        transaction per job. A failure is logged.
        """
        self._writes.write(statement, params, wait=wait)

    def flush(self) -> None:
        """Write now what writes nobody waited for left queued (a process finishing its jobs calls it)."""
        self._writes.flush_deferred()

    def dispose(self) -> None:
        """Write what is queued, then close every pooled connection."""
        self.flush()
        self.engine.dispose()


# INSERT with ON CONFLICT, per database: SQLite and PostgreSQL spell it alike. A statement on a
# hot path is built once per database from these and picked by `connection.dialect.name`.
UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert(session: Session, table: Any) -> Any:
    """An INSERT with ON CONFLICT for the session's database."""
    return UPSERTS[session.get_bind().dialect.name](table)


# A connection back in the pool for longer than this is pinged before it is handed out again.
# The server may have restarted or dropped it meanwhile; one in steady use is not pinged (a
# round trip per checkout, two or three per job). If the server goes away while connections are
# in use, the statement that meets it fails as a disconnect, the pool drops every connection
# opened before, and the request answers 503 or the job is retried.
IDLE_PING = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection at checkout when it was back in the pool for IDLE_PING seconds or more."""
    dialect = engine.dialect

    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("returned", None)
        if since is None or time.monotonic() - since < IDLE_PING:
            return  # just opened, or back only a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001  (a failed ping, whatever its kind, rules this connection out)
            # the pool closes this connection and checks out another (up to three tries)
            raise DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checkout)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that "begin" below is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _SqliteWriter:
    """SQLite has one writer at a time: the threads of this process take turns on a lock, processes on a file lock.

    Every transaction takes SQLite's write lock at BEGIN (two writers never both read, then
    deadlock on upgrade). A thread waiting for it inside SQLite polls with sleeps of up to 100 ms;
    waiting on these locks instead, the next writer starts the moment the last one ends, whether
    it is a thread of this process or another process on the same file (a command next to
    `serve`, gunicorn's processes, several workers).
    """

    WAIT = 30.0  # as long as SQLite's own busy timeout; after that SQLite decides

    def __init__(self, dialect: Any, between_processes: _FileLock | None) -> None:
        self.lock = threading.Lock()
        self.between_processes = between_processes
        self._holds_file = False
        self._owner: int | None = None  # id() of the DBAPI connection whose transaction holds the lock
        # Freed once COMMIT or ROLLBACK has run: the engine's commit and rollback events come
        # before it, and a thread let in then would find SQLite still locked and sleep in its
        # busy handler. The dialect is this engine's own instance.
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(connection: Any) -> None:
            commit(connection)
            self.end(connection)

        def do_rollback(connection: Any) -> None:
            try:
                rollback(connection)
            finally:
                self.end(connection)

        dialect.do_commit, dialect.do_rollback = do_commit, do_rollback

    def begin(self, conn: Any) -> None:
        raw = _dbapi(conn.connection)
        if self.lock.acquire(timeout=self.WAIT):
            self._owner = raw
        try:
            if self._owner == raw and self.between_processes is not None:
                self._holds_file = self.between_processes.acquire()
            # On the driver's connection: SQLAlchemy's statement machinery costs more than BEGIN does.
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.end(raw)
            raise

    def end(self, connection: Any) -> None:
        if self._owner is not None and self._owner == _dbapi(connection):
            self._owner = None
            if self._holds_file:
                self._holds_file = False
                self.between_processes.release()  # type: ignore[union-attr]
            self.lock.release()

    def checkin(self, dbapi_connection: Any, _record: Any) -> None:
        # a connection given back without its transaction ended (never expected) frees the lock too
        self.end(dbapi_connection)


class _FileLock:
    """An exclusive lock between processes: flock on a file next to the database (none where fcntl is missing).

    A waiter blocks in the kernel and is woken the moment the lock is free (SQLite's own busy
    handler sleeps up to 100 ms between tries), and the kernel frees the lock when its holder
    exits, however it exits. The wait has no timeout: a process stopped in the middle of a write
    (Ctrl-Z on a command) holds the other processes' writers until it resumes or ends, where
    SQLite's busy timeout failed them after 30 s. A forked process opens the file again: a fork
    shares the open file, and flock belongs to the open file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd, self._pid = -1, -1

    def acquire(self) -> bool:
        """True once held; False where processes cannot lock this file (they then wait inside SQLite)."""
        if fcntl is None:
            return False
        if self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # a read-only directory: SQLite's busy timeout still keeps writers apart
                log.warning("cannot open %s (%s); processes wait for each other inside SQLite", self.path, exc)
                self._fd = -1
            self._pid = os.getpid()
        if self._fd < 0:
            return False
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[union-attr]


def _dbapi(connection: Any) -> int:
    """The identity of the DBAPI connection behind a pool's proxy (or of the DBAPI connection itself)."""
    return id(getattr(connection, "dbapi_connection", connection))


class _Write:
    __slots__ = ("statement", "params", "wait", "done", "error")

    def __init__(self, statement: Any, params: dict[str, Any], wait: bool):
        self.statement, self.params, self.wait = statement, params, wait
        self.done = False  # its flush has ended, committed (error None) or not
        self.error: BaseException | None = RuntimeError("the write's flush stopped before it was committed")


class _GroupWriter:
    """Group commit: the first thread to find no flush running writes every queued write, then wakes the rest.

    Writes queued while a flush runs go in the next one, so the group grows with the load and a
    lone write waits for nothing. A write nobody waits for waits for company: it goes with the
    next write, or on its own after DEFER seconds. If the shared transaction fails, each of its
    writes is tried alone, so one bad write fails only its own caller.
    """

    DEFER = 0.25  # how long a write nobody waits for may wait for the next one

    def __init__(self, engine: Engine):
        self.engine = engine
        self._queue: list[_Write] = []
        self._flushing = False
        self._turn = threading.Condition()
        self._timer: threading.Timer | None = None

    def write(self, statement: Any, params: dict[str, Any], *, wait: bool = True) -> None:
        item = _Write(statement, params, wait)
        with self._turn:
            self._queue.append(item)
            if not wait:
                self._arm_timer()
                return  # the next flush writes it: the next waited write's, or the timer's
            while self._flushing and not item.done:
                self._turn.wait()
            if not item.done:
                self._take_turn()
        if item.error is not None:
            raise item.error

    def flush_deferred(self) -> None:
        """Write the queued writes now, unless a flush is running (a waiting writer takes them next)."""
        with self._turn:
            self._timer = None
            if self._queue and not self._flushing:
                self._take_turn()

    def _arm_timer(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.DEFER, self.flush_deferred)
            self._timer.daemon = True
            self._timer.start()

    def _take_turn(self) -> None:
        """Flush everything queued (called holding _turn; released while the flush runs)."""
        self._flushing = True
        group, self._queue = self._queue, []
        self._turn.release()
        try:
            self._flush(group)
        finally:
            self._turn.acquire()
            self._flushing = False
            self._turn.notify_all()  # its writers return; a writer that queued meanwhile takes the next turn
            if self._queue and not any(queued.wait for queued in self._queue):
                self._arm_timer()

    def _flush(self, group: list[_Write]) -> None:
        try:
            self._run(group)
        except Exception as failed:  # noqa: BLE001  (raised in the callers' threads)
            if len(group) == 1:
                group[0].error = failed
                return
            for item in group:  # each alone: one bad write fails only its own caller
                try:
                    self._run([item])
                except Exception as exc:  # noqa: BLE001
                    item.error = exc
        finally:
            for item in group:
                item.done = True
                if not item.wait and item.error is not None:  # nobody waits to be told
                    log.warning("a write nobody waited for failed: %s", item.error)

    def _run(self, group: list[_Write]) -> None:
        by_statement: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
        for item in group:
            by_statement.setdefault(id(item.statement), (item.statement, []))[1].append(item.params)
        if len(group) == 1 and self.engine.dialect.name != "sqlite":
            # A statement is atomic on its own: autocommit saves the BEGIN and COMMIT round trips.
            # SQLite takes its writer lock in a transaction, as every other write does.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(group[0].statement, group[0].params)
            group[0].error = None
            return
        with self.engine.begin() as conn:
            for statement, params in by_statement.values():
                conn.execute(statement, params)
        for item in group:
            item.error = None
