"""MQTT events (issue 29, item 3) against a real Mosquitto broker (tests/mqttbroker.py): a test
subscriber receives the defect, repair, review and availability events of real scans and
repairs and validates each against the JSON Schema in docs/mqtt.md; with the broker stopped, a
repair still completes, events wait in the bounded queue and the overflow is counted in
/metrics; the broker back, the waiting events arrive; a killed publisher leaves its retained
last will "offline"."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mqttbroker import MosquittoBroker, find_mosquitto
from prometheus_client import generate_latest
from sqlalchemy import select
from test_detect_clips import Faults
from test_repair import build_site

from gapfill.catalog.db import Catalog, open_catalog
from gapfill.catalog.models import Camera, Defect, RepairJob, SyntheticClip
from gapfill.catalog.queries.events import events_since, present
from gapfill.config import load_settings
from gapfill.jobs import queue
from gapfill.jobs.metrics import DaemonMetrics, MqttCollector
from gapfill.jobs.worker import Worker, WorkerOptions
from gapfill.mqtt.publisher import MqttPublisher
from gapfill.mqtt.relay import EventRelay

DOC = Path(__file__).resolve().parents[1] / "docs" / "mqtt.md"
PREFIX = "plant"


def documented_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each event, from the ```json block under its ### heading."""
    text = DOC.read_text()
    found = re.findall(r"^### (\w+)\n.*?```json\n(.*?)```", text, flags=re.S | re.M)
    return {name: json.loads(block) for name, block in found}


@pytest.fixture
def broker() -> Iterator[MosquittoBroker]:
    program = find_mosquitto()
    if program is None:
        pytest.skip("mosquitto not found (Debian package mosquitto; make test installs it)")
    server = MosquittoBroker(program).start()
    yield server
    server.cleanup()


_ids = itertools.count()


class Subscriber:
    """Everything published under PREFIX/#, (re)subscribed on every connect."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        # A client id of its own: the broker disconnects a client whose id another one takes.
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-subscriber-{next(_ids)}"
        )
        self.client.reconnect_delay_set(1, 2)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(f"{PREFIX}/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def events(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith(f"/{kind}")]

    def availability(self) -> list[str]:
        with self.lock:
            return [p.decode() for t, p, _ in self.messages if t == f"{PREFIX}/availability"]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(
    check: Callable[[], bool],
    seconds: float,
    what: str,
    state: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} {state()}".strip())


def _repair_one(catalog: Catalog) -> None:
    with catalog.session() as session:
        queue.enqueue_open(session)
    options = WorkerOptions(lease_seconds=60, poll_seconds=0.1, repair_now=True, max_jobs=1)
    assert Worker(catalog, load_settings(), options).run() == 1


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_events_reach_the_broker_and_survive_its_absence(
    catalog: Catalog,
    broker: MosquittoBroker,
    tiny_checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAPFILL_DATABASE_URL", catalog.url)
    monkeypatch.setenv("GAPFILL_MODEL_PATH", str(tiny_checkpoint))
    schemas = documented_schemas()
    assert set(schemas) == {"defect", "repair", "review"}
    subscriber = Subscriber(broker.port)
    publisher = MqttPublisher(broker.url, PREFIX, queue_size=3)
    publisher.start()
    wait_until(lambda: publisher.connected, 20, "the publisher to connect")
    relay = EventRelay(catalog, publisher, poll_seconds=0.1)
    relay.start()
    metrics = DaemonMetrics(None)
    metrics.registry.register(MqttCollector(publisher))
    try:
        # Found and repaired with the broker up: a defect event each, then a repair event.
        build_site(tmp_path / "rec", [None, Faults(black=[(20, 30)]), None, None], monkeypatch)
        with catalog.session() as session:
            cameras = session.scalars(select(Camera)).all()
        wait_until(lambda: len(subscriber.events("defect")) == 1, 20, "the defect event")
        _repair_one(catalog)
        wait_until(lambda: len(subscriber.events("repair")) == 1, 20, "the repair event")
        [defect] = subscriber.events("defect")
        [repair] = subscriber.events("repair")
        jsonschema.validate(defect, schemas["defect"])
        jsonschema.validate(repair, schemas["repair"])
        assert (defect["camera"], defect["kind"]) == ("press-01", "black")
        assert repair["outcome"] == "repaired" and Path(repair["clip_path"]).is_file()
        assert repair["synthetic_frames"] and repair["model"]["sha256"]
        assert subscriber.availability()[0] == "online"

        # A review decision.
        with catalog.session() as session:
            clip = session.scalars(select(SyntheticClip)).one()
            clip.review_state, clip.reviewed_at = "approved", dt.datetime.now(dt.UTC)
        wait_until(lambda: len(subscriber.events("review")) == 1, 20, "the review event")
        jsonschema.validate(subscriber.events("review")[0], schemas["review"])

        # The broker goes away: a repair still completes, events wait (3 at most), the rest drop.
        broker.stop()
        wait_until(lambda: not publisher.connected, 20, "the publisher to notice")
        with catalog.session() as session:
            for i in range(5):
                start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
                session.add(
                    Defect(
                        camera_id=cameras[0].id,
                        kind="black",
                        detector="t",
                        start_time=start,
                        end_time=start + dt.timedelta(seconds=2),
                        state="ignored",  # not for the queue: only their events matter here
                    )
                )
        wait_until(lambda: publisher.dropped == 2, 20, "the overflow to be counted")
        assert b"gapfill_mqtt_dropped_events_total 2.0" in generate_latest(metrics.registry)
        assert b"gapfill_mqtt_connected 0.0" in generate_latest(metrics.registry)

        # Back: the 3 waiting events arrive (the newest 3 of the 5 defects). A new subscriber
        # is there first: the publisher's reconnect is at least a backoff step away.
        broker.start()
        back = Subscriber(broker.port)
        wait_until(back.subscribed.is_set, 10, "the subscriber to subscribe again")
        wait_until(lambda: publisher.connected, 90, "the publisher to reconnect")
        wait_until(
            lambda: len(back.events("defect")) == 3,
            20,
            "the queued events",
            lambda: (
                f"got {back.messages}, published {publisher.published}, "
                f"queued {publisher.queued}, dropped {publisher.dropped}"
            ),
        )
        ids = [e["defect_id"] for e in back.events("defect")]
        assert ids == sorted(ids) and len(set(ids)) == 3 and min(ids) > defect["defect_id"]
        for event in back.events("defect"):
            jsonschema.validate(event, schemas["defect"])
        back.close()
    finally:
        relay.close()
        publisher.stop()
    wait_until(lambda: subscriber.availability()[-1:] == ["offline"], 10, "offline")
    subscriber.close()


def test_every_failed_attempt_is_an_event_of_its_own(
    catalog: Catalog, broker: MosquittoBroker
) -> None:
    """A job with three attempts: the first fails, the second's worker vanishes (its lease runs
    out and another worker takes the job over), the third fails too. The subscriber receives one
    repair event per attempt, as each fails: retrying, retrying, dead, each valid by the schema
    of docs/mqtt.md, with its number, its error and whether it is retried."""
    from test_jobs import make_defects

    schemas = documented_schemas()
    [defect_id] = make_defects(catalog, 1)
    with catalog.session() as session:
        [job_id] = queue.enqueue(session, [defect_id], max_attempts=3)
    subscriber = Subscriber(broker.port)
    publisher = MqttPublisher(broker.url, PREFIX)
    publisher.start()
    relay = EventRelay(catalog, publisher, poll_seconds=0.1)
    relay.start()
    lease = dt.timedelta(minutes=1)
    now = dt.datetime.now(dt.UTC)
    try:
        with catalog.session() as session:
            first = queue.claim_next(session, "host-a:1", lease, now=now)
        with catalog.session() as session:
            assert first is not None and queue.fail(session, first, "RuntimeError: one") == "queued"
        later = now + dt.timedelta(hours=2)  # past any backoff
        with catalog.session() as session:
            second = queue.claim_next(session, "host-b:2", lease, now=later)
        assert second is not None and second.attempt == 2  # and host-b vanishes with it
        with catalog.session() as session:
            third = queue.claim_next(session, "host-c:3", lease, now=later + 2 * lease)
        with catalog.session() as session:
            assert third is not None and third.attempt == 3
            assert queue.fail(session, third, "RuntimeError: three") == "dead"
        wait_until(lambda: len(subscriber.events("repair")) == 3, 20, "three repair events")
    finally:
        relay.close()
        publisher.stop()
        subscriber.close()
    events = subscriber.events("repair")
    for event in events:
        jsonschema.validate(event, schemas["repair"])
        assert (event["job_id"], event["defect_id"], event["max_attempts"]) == (
            job_id,
            defect_id,
            3,
        )
    assert [(e["outcome"], e["attempts"], e["will_retry"]) for e in events] == [
        ("retrying", 1, True),
        ("retrying", 2, True),
        ("dead", 3, False),
    ]
    assert [e["error"] for e in events] == [
        "RuntimeError: one",
        "lease expired on host-b:2",
        "RuntimeError: three",
    ]
    backoff = dt.datetime.fromisoformat(events[0]["retry_at"]) - dt.datetime.fromisoformat(
        events[0]["finished_at"]
    )
    assert backoff == queue.BACKOFF_BASE
    assert events[1]["retry_at"] is not None and events[2]["retry_at"] is None


def test_a_failure_is_told_before_the_success_that_follows_it(catalog: Catalog) -> None:
    """An attempt fails and the next one finishes the job before the relay looks again: one
    look gives the failure first, then the job done."""
    from test_jobs import make_defects

    [defect_id] = make_defects(catalog, 1)
    with catalog.session() as session:
        queue.enqueue(session, [defect_id])
        cursor = present(session)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)  # past the backoff
    with catalog.session() as session:
        first = queue.claim_next(session, "host-a:1")
        assert first is not None and queue.fail(session, first, "RuntimeError: one") == "queued"
    with catalog.session() as session:
        second = queue.claim_next(session, "host-a:1", now=later)
        assert second is not None and queue.complete(session, second)
    with catalog.session() as session:
        events, _ = events_since(session, cursor)
    for event in events:
        jsonschema.validate(event.payload, documented_schemas()["repair"])
    assert [(e.payload["outcome"], e.payload["attempts"]) for e in events] == [
        ("retrying", 1),
        ("queued", 2),  # done without a clip: the defect's own state (a test defect, no repair)
    ]


PUBLISHER_SCRIPT = r"""
import sys, time
from gapfill.mqtt.publisher import MqttPublisher
publisher = MqttPublisher(sys.argv[1], "plant")
publisher.start()
while not publisher.connected:
    time.sleep(0.05)
print("connected", flush=True)
time.sleep(600)
"""


def test_a_killed_daemon_leaves_offline_as_its_last_will(broker: MosquittoBroker) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER_SCRIPT, broker.url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "connected"
        subscriber = Subscriber(broker.port)
        wait_until(lambda: subscriber.availability() == ["online"], 10, "retained online")
        process.kill()
        wait_until(lambda: subscriber.availability() == ["online", "offline"], 20, "last will")
        subscriber.close()
        late = Subscriber(broker.port)  # retained: a subscriber arriving now reads offline
        wait_until(lambda: late.availability() == ["offline"], 10, "retained offline")
        late.close()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def test_a_broker_that_is_down_never_blocks_publish() -> None:
    """Nothing listens on the port: publish returns at once and the queue caps what it keeps."""
    publisher = MqttPublisher("mqtt://127.0.0.1:1", PREFIX, queue_size=10)
    publisher.start()
    began = time.monotonic()
    for i in range(1000):
        publisher.publish("press-01", "defect", {"n": i})
    assert time.monotonic() - began < 1.0
    assert publisher.dropped == 990 and not publisher.connected
    publisher.stop(timeout=1)


def test_bad_mqtt_urls_are_refused_when_the_settings_load(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli_run import refused

    monkeypatch.setenv("GAPFILL_MQTT_URL", "http://user:secret@broker")
    line = refused(capsys, "config", "show")
    assert "mqtt_url: " in line and "not an MQTT URL" in line and "secret" not in line
    monkeypatch.setenv("GAPFILL_MQTT_URL", "mqtt://user:secret@broker:1883")
    from cli_run import succeeds

    shown = json.loads(succeeds(capsys, "config", "show", "--json"))
    assert shown["mqtt_url"] == "mqtt://user:***@broker:1883"


def test_the_daemon_publishes_what_it_finds_and_repairs(
    broker: MosquittoBroker,
    tiny_checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[subprocess.Popen[str]],
) -> None:
    """`gapfill daemon` end to end with mqtt_url: its watch finds a black span in a recording,
    its worker repairs it, and a subscriber receives online, the defect, the repair (both valid
    by docs/mqtt.md) and, after SIGTERM, offline."""
    from live_site import log_tail, start_daemon
    from test_detect_clips import write_clip
    from test_detect_scan import START, segment_path
    from test_repair import invoke

    root = tmp_path / "recordings"
    for j, faults in enumerate([None, Faults(black=[(20, 30)]), None]):
        write_clip(segment_path(root, "press-01", START + dt.timedelta(seconds=6 * j)), 60, faults)
    for name, value in {
        "GAPFILL_MODEL_PATH": str(tiny_checkpoint),
        "GAPFILL_RECORDINGS_DIRS": json.dumps([str(root)]),
        "GAPFILL_SCAN_INTERVAL_SECONDS": "1",
        "GAPFILL_METRICS_PORT": "0",
        "GAPFILL_MQTT_URL": broker.url,
        "GAPFILL_MQTT_PREFIX": PREFIX,
        "GAPFILL_LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(name, value)
    invoke("init")
    invoke("keys", "init")
    schemas = documented_schemas()
    subscriber = Subscriber(broker.port)
    log = tmp_path / "daemon.log"
    options = ["--workers", "1", "--repair-now", "--settle-seconds", "0", "--poll-seconds", "0.2"]
    daemon = start_daemon(processes, log, *options)

    def arrived(kind: str) -> Callable[[], bool]:
        def check() -> bool:
            assert daemon.poll() is None, log_tail(log)
            return bool(subscriber.events(kind))

        return check

    wait_until(arrived("defect"), 120, "the defect event", lambda: log_tail(log))
    wait_until(arrived("repair"), 180, "the repair event", lambda: log_tail(log))
    [defect], [repair] = subscriber.events("defect"), subscriber.events("repair")
    jsonschema.validate(defect, schemas["defect"])
    jsonschema.validate(repair, schemas["repair"])
    assert (defect["camera"], defect["kind"]) == ("press-01", "black")
    assert repair["outcome"] == "repaired" and repair["defect_id"] == defect["defect_id"]
    assert subscriber.availability()[0] == "online"
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(90) == 0, log_tail(log)
    wait_until(lambda: subscriber.availability()[-1:] == ["offline"], 10, "offline")
    subscriber.close()


def test_a_daemon_whose_broker_stops_still_repairs_and_counts_what_it_drops(
    broker: MosquittoBroker,
    tiny_checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[subprocess.Popen[str]],
) -> None:
    """`gapfill daemon` with a queue of one event: the broker is stopped once the daemon is
    online, then two damaged segments arrive in the live hour. Both are found and repaired all
    the same, every event but the one the queue keeps is dropped, and /metrics says how many."""
    from live_site import log_tail, start_daemon
    from test_detect_clips import write_clip
    from test_detect_scan import segment_path
    from test_jobs import fetch, free_port
    from test_repair import invoke

    root = tmp_path / "recordings"
    # The subscriber first: its connection takes an ephemeral port, which free_port (an
    # ephemeral port too) must not hand to the daemon's /metrics.
    subscriber = Subscriber(broker.port)
    port = free_port()
    for name, value in {
        "GAPFILL_MODEL_PATH": str(tiny_checkpoint),
        "GAPFILL_RECORDINGS_DIRS": json.dumps([str(root)]),
        "GAPFILL_SCAN_INTERVAL_SECONDS": "1",
        "GAPFILL_METRICS_PORT": str(port),
        "GAPFILL_MQTT_URL": broker.url,
        "GAPFILL_MQTT_PREFIX": PREFIX,
        "GAPFILL_MQTT_QUEUE_SIZE": "1",
    }.items():
        monkeypatch.setenv(name, value)
    invoke("init")
    invoke("keys", "init")
    log = tmp_path / "daemon.log"
    options = ["--workers", "1", "--repair-now", "--settle-seconds", "0", "--poll-seconds", "0.2"]
    daemon = start_daemon(processes, log, *options)

    def metric(name: str) -> float | None:
        assert daemon.poll() is None, log_tail(log)
        try:
            text = fetch(f"http://127.0.0.1:{port}/metrics")[1]
        except OSError:  # not listening yet
            return None
        found = re.search(rf"^{name} (\S+)$", text, flags=re.M)
        return float(found[1]) if found else None

    wait_until(
        lambda: subscriber.availability()[:1] == ["online"], 60, "online", lambda: log_tail(log)
    )
    subscriber.close()
    broker.stop()
    wait_until(lambda: metric("gapfill_mqtt_connected") == 0.0, 30, "the daemon to notice")

    # Two black spans, each with real footage around it, in the live hour: the watch's next
    # ticks find them.
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
    black = Faults(black=[(20, 30)])
    for j, faults in enumerate([None, black, None, black, None]):
        path = segment_path(root, "press-01", start + dt.timedelta(seconds=6 * j))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, 60, faults)

    with open_catalog(load_settings()) as catalog:

        def repaired() -> bool:
            # Both defects repaired and their jobs closed: a worker marks the defect repaired
            # in the repair's own commit and its job done just after, so wait for both.
            assert daemon.poll() is None, log_tail(log)
            with catalog.session() as session:
                states = [d.state for d in session.scalars(select(Defect))]
                jobs = [job.state for job in session.scalars(select(RepairJob))]
            return (
                len(states) >= 2
                and all(s == "repaired" for s in states)
                and bool(jobs)
                and all(state not in ("queued", "running") for state in jobs)
            )

        wait_until(repaired, 300, "both repairs", lambda: log_tail(log))
        with catalog.session() as session:
            defects = len(session.scalars(select(Defect)).all())
            jobs = [job.state for job in session.scalars(select(RepairJob))]
    assert jobs and all(state == "done" for state in jobs)
    # One event per defect and per finished job, all after the broker stopped: the queue keeps
    # the newest one, and the relay reads the catalog every 2 s, so the last may still come.
    events = defects + len(jobs)
    wait_until(
        lambda: metric("gapfill_mqtt_dropped_events_total") == events - 1,
        30,
        f"{events - 1} dropped events",
        lambda: f"dropped {metric('gapfill_mqtt_dropped_events_total')}",
    )
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(90) == 0, log_tail(log)
