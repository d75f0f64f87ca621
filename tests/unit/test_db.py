"""Database.write: concurrent one-statement writes share a commit, and each caller gets its own outcome."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, event, insert, select

from leadcapture.db import Database

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True), Column("value", Integer, nullable=False))
ADD = insert(rows).values(id=bindparam("id"), value=bindparam("value"))


@pytest.fixture
def db(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/writes.db")
    metadata.create_all(db.engine)
    yield db
    db.dispose()


def written(db: Database) -> list[tuple[int, int]]:
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(rows.c.id, rows.c.value).order_by(rows.c.id))]


def hold_first_flush_until(db: Database, queued: int) -> list[int]:
    """Keep the first flush from running until `queued` more writes wait; returns the commit log."""
    commits: list[int] = []
    first = threading.Event()

    @event.listens_for(db.engine, "before_cursor_execute")
    def hold(conn, cursor, statement, parameters, context, executemany):
        if not first.is_set() and statement.startswith("INSERT"):
            first.set()
            while len(db._writes._queue) < queued:
                threading.Event().wait(0.01)

    event.listen(db.engine, "commit", lambda conn: commits.append(1))
    return commits


def run_all(db: Database, params: list[dict]) -> dict[int, BaseException | None]:
    outcomes: dict[int, BaseException | None] = {}

    def one(values):
        try:
            db.write(ADD, values)
            outcomes[values["id"]] = None
        except Exception as exc:  # noqa: BLE001
            outcomes[values["id"]] = exc

    threads = [threading.Thread(target=one, args=(values,)) for values in params]
    threads[0].start()
    while not db._writes._flushing:
        threading.Event().wait(0.01)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcomes


def test_a_lone_write_is_committed_when_the_call_returns(db):
    db.write(ADD, {"id": 1, "value": 10})
    assert written(db) == [(1, 10)]


def test_writes_waiting_together_share_one_commit(db):
    # Given a flush that runs while five more writes queue up
    commits = hold_first_flush_until(db, queued=5)
    # When they all return
    outcomes = run_all(db, [{"id": i, "value": i * 10} for i in range(1, 7)])
    # Then every write is committed, the five behind the first in one transaction
    assert outcomes == {i: None for i in range(1, 7)}
    assert written(db) == [(i, i * 10) for i in range(1, 7)]
    assert len(commits) == 2


def test_a_bad_write_fails_only_its_own_caller(db):
    db.write(ADD, {"id": 3, "value": 0})
    hold_first_flush_until(db, queued=3)
    # Given a group where one write breaks the primary key
    outcomes = run_all(db, [{"id": 1, "value": 1}, {"id": 2, "value": 2}, {"id": 3, "value": 3}, {"id": 4, "value": 4}])
    # Then its caller gets the error, and the others' writes are committed
    assert outcomes[1] is None and outcomes[2] is None and outcomes[4] is None
    assert "UNIQUE constraint failed" in str(outcomes[3])
    assert written(db) == [(1, 1), (2, 2), (3, 0), (4, 4)]


def test_the_sqlite_writer_lock_is_freed_only_once_commit_or_rollback_has_run(tmp_path):
    # A thread let in before COMMIT has run would find SQLite still locked and sleep in its busy handler
    db = Database(f"sqlite:///{tmp_path}/lock.db")
    connections = []
    event.listen(db.engine, "connect", lambda dbapi_connection, record: connections.append(dbapi_connection))
    writer = next(fn.__self__ for fn in db.engine.dispatch.begin if hasattr(fn, "__self__"))
    freed_mid_transaction = []

    class Recording:
        def __init__(self, lock):
            self.lock = lock

        def acquire(self, timeout):
            return self.lock.acquire(timeout=timeout)

        def release(self):
            freed_mid_transaction.append(any(c.in_transaction for c in connections))
            self.lock.release()

    writer.lock = Recording(writer.lock)
    metadata.create_all(db.engine)
    db.write(ADD, {"id": 1, "value": 1})
    with pytest.raises(RuntimeError), db.engine.begin() as conn:
        conn.execute(ADD, {"id": 2, "value": 2})
        raise RuntimeError("rolled back")
    with db.session() as session:
        session.execute(select(rows.c.id)).all()
    assert freed_mid_transaction and not any(freed_mid_transaction)
    assert written(db) == [(1, 1)]
    db.dispose()


def test_a_write_nobody_waits_for_returns_at_once_and_goes_in_the_next_writes_commit(db):
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda conn: commits.append(1))
    # When a write nobody waits for is made, it returns without writing anything
    db.write(ADD, {"id": 2, "value": 2}, wait=False)
    assert written(db) == [] and commits == []
    # Then the next write, waited for, commits both in one transaction
    db.write(ADD, {"id": 1, "value": 1})
    assert written(db) == [(1, 1), (2, 2)] and len(commits) == 1


def test_a_write_nobody_waits_for_is_written_on_its_own_soon_and_a_bad_one_is_logged(db, caplog):
    db.write(ADD, {"id": 1, "value": 1})
    # Given writes nobody waits for, one of them breaking the primary key, and no write after them
    db.write(ADD, {"id": 2, "value": 2}, wait=False)
    db.write(ADD, {"id": 1, "value": 9}, wait=False)
    # Then they are written without one, within the deferral; the bad one is logged, not raised
    deadline = time.monotonic() + 10
    while written(db) != [(1, 1), (2, 2)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert written(db) == [(1, 1), (2, 2)]
    deadline = time.monotonic() + 10
    while "a write nobody waited for failed" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "a write nobody waited for failed" in caplog.text
    assert not db._writes._flushing and not db._writes._queue


def test_closing_the_database_writes_what_nobody_waited_for(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/closing.db")
    metadata.create_all(db.engine)
    db.write(ADD, {"id": 1, "value": 1}, wait=False)
    db.dispose()
    assert written(db) == [(1, 1)]
    db.dispose()


def test_connections_are_kept_for_as_many_threads_as_may_hold_one(tmp_path):
    """A pool smaller than the threads would close a connection on each return and open one on the next checkout."""
    db = Database(f"sqlite:///{tmp_path}/pool.db", threads=12)
    opened = []
    event.listen(db.engine, "connect", lambda *_: opened.append(1))
    for _ in range(3):
        holding, release = threading.Barrier(13), threading.Event()

        def hold(holding=holding, release=release):
            with db.engine.connect():
                holding.wait()
                release.wait()

        threads = [threading.Thread(target=hold) for _ in range(12)]
        for thread in threads:
            thread.start()
        holding.wait()
        release.set()
        for thread in threads:
            thread.join()
    db.dispose()
    assert len(opened) == 12


def test_the_services_pool_fits_the_web_and_worker_threads(services):
    settings = services.settings
    assert services.db.engine.pool.size() >= settings.web_threads + settings.worker_threads + 4


# Another process's writer: it inserts a row, with SQLite's own busy timeout far shorter than the
# time this test's process holds its transaction open; it prints "written" or SQLite's error.
OTHER_PROCESS = """
import sys
from sqlalchemy import Column, Integer, MetaData, Table, insert
from leadcapture.db import Database
rows = Table("rows", MetaData(), Column("id", Integer, primary_key=True), Column("value", Integer, nullable=False))
db = Database(sys.argv[1], connect_args={"timeout": 0.05})
print("started", flush=True)
try:
    with db.engine.begin() as conn:
        conn.execute(insert(rows).values(id=2, value=2))
    print("written", flush=True)
except Exception as exc:
    print(type(exc).__name__, exc, flush=True)
"""


def test_a_writer_in_another_process_waits_for_this_ones_commit_instead_of_failing(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    db = Database(url)
    metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(ADD, {"id": 1, "value": 1})
        other = subprocess.Popen([sys.executable, "-c", OTHER_PROCESS, url], stdout=subprocess.PIPE, text=True)
        assert other.stdout.readline().strip() == "started"
        time.sleep(0.5)  # ten times the other's busy timeout: SQLite alone would fail it ("database is locked")
        assert other.poll() is None, other.stdout.read()
    out, _ = other.communicate(timeout=30)
    assert out.strip() == "written"
    assert written(db) == [(1, 1), (2, 2)]
    db.dispose()


def test_the_lock_between_processes_is_held_for_the_transaction_and_freed_after(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/held.db")
    metadata.create_all(db.engine)
    lock_file = tmp_path / "held.db-writer"

    def free_for_another_process() -> bool:
        probe = os.open(lock_file, os.O_RDWR)  # its own open file, as another process has
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(probe, fcntl.LOCK_UN)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(probe)

    with db.session() as session:
        session.execute(ADD, {"id": 1, "value": 1})
        assert not free_for_another_process()
    assert free_for_another_process()
    with pytest.raises(RuntimeError), db.session() as session:
        session.execute(ADD, {"id": 2, "value": 2})
        raise RuntimeError("rolled back")
    assert free_for_another_process()
    db.dispose()


def test_a_forked_process_takes_the_lock_on_its_own_open_file(tmp_path):
    # gunicorn forks its workers from a process that may have opened the lock file: on a shared
    # open file, parent and child would both hold "the" lock, and SQLite's busy timeout would decide.
    db = Database(f"sqlite:///{tmp_path}/forked.db", connect_args={"timeout": 0.05})
    metadata.create_all(db.engine)
    db.write(ADD, {"id": 1, "value": 1})  # the parent has opened its lock file
    holding, go_on = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child holds a transaction for half a second
        code = 1
        try:
            db.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            with db.session() as session:
                session.execute(ADD, {"id": 2, "value": 2})
                os.write(go_on, b"1")
                time.sleep(0.5)
            code = 0
        finally:
            os._exit(code)
    assert os.read(holding, 1) == b"1"
    db.write(ADD, {"id": 3, "value": 3})  # waits for the child's commit, far beyond SQLite's 50 ms
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert written(db) == [(1, 1), (2, 2), (3, 3)]
    db.dispose()
