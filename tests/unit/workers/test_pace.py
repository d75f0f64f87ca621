"""The in-process broker paces web requests: they wait while too many of their jobs are open."""

from __future__ import annotations

import threading
import time

import dramatiq

from workers.middleware import PaceMiddleware


def test_a_publisher_waits_for_room_and_goes_on_when_a_job_finishes():
    # Given a pace of two open jobs, both taken
    pace = PaceMiddleware()
    pace.limit = 2
    first, second = (dramatiq.Message("q", "a", (), {}, {"paced": True}) for _ in range(2))
    pace.wait_for_room()
    pace.wait_for_room()
    # When a third publisher comes
    done = threading.Event()
    threading.Thread(target=lambda: (pace.wait_for_room(), done.set()), daemon=True).start()
    # Then it waits until one of them finishes
    assert not done.wait(0.3)
    pace.after_process_message(None, first)
    assert done.wait(2)
    # And a job counted once is not counted again when its retry finishes
    pace.after_process_message(None, first)
    pace.after_skip_message(None, second)
    assert pace._open == 1


def test_the_wait_is_bounded(monkeypatch):
    pace = PaceMiddleware()
    pace.limit = 1
    monkeypatch.setattr(PaceMiddleware, "PACE_MAX_WAIT", 0.2)
    pace.wait_for_room()
    began = time.monotonic()
    pace.wait_for_room()  # nobody finishes: it goes on after the bound
    assert time.monotonic() - began < 2
    assert pace._open == 2


def test_only_web_requests_wait_for_room(services, monkeypatch):
    # Given an in-process broker whose room is taken
    from workers import broker

    pace = PaceMiddleware()
    pace.limit, pace._open = 1, 1
    monkeypatch.setitem(broker._state, "pace", pace)
    monkeypatch.setattr(PaceMiddleware, "PACE_MAX_WAIT", 0.2)
    # When the relay (or a job, or the scheduler) publishes, it is not counted and does not wait:
    # it may hold the database's writer lock that the open jobs need to finish
    broker.publish("send_confirmation", [1])
    assert pace._open == 1
    # But a web request's publish waits for room (bounded here) and is counted
    seen = []

    def view(environ, start_response):
        broker.publish("send_confirmation", [2])
        seen.append(pace._open)
        return [b""]

    broker.paced_requests(view)({}, lambda *a: None)
    assert seen == [2]
    broker.publish("send_confirmation", [3])  # the thread is no longer a request's
    assert pace._open == 2
