"""The daemon's relay from the catalog to the broker: every few seconds, the plant events since
the last look (gapfill.catalog.queries.events.py) go to the publisher's queue. Neither a broker nor
a catalog that is away stops it: it logs and looks again."""

from __future__ import annotations

import logging
import threading

from gapfill.catalog.db import Catalog
from gapfill.catalog.queries.events import Cursor, events_since, present
from gapfill.mqtt.publisher import MqttPublisher

log = logging.getLogger("gapfill.mqtt")


class EventRelay:
    def __init__(
        self, catalog: Catalog, publisher: MqttPublisher, poll_seconds: float = 2.0
    ) -> None:
        self.catalog, self.publisher, self.poll_seconds = catalog, publisher, poll_seconds
        self.stop = threading.Event()
        self.cursor: Cursor | None = None
        self._thread = threading.Thread(target=self._run, name="mqtt-relay", daemon=True)

    def start(self) -> None:
        with self.catalog.session() as session:
            self.cursor = present(session)  # announce what happens from now on
        self._thread.start()

    def relay_once(self) -> int:
        """Queue the events since the cursor; returns how many."""
        assert self.cursor is not None, "start() first"
        with self.catalog.session() as session:
            events, cursor = events_since(session, self.cursor)
        for event in events:
            self.publisher.publish(event.camera, event.kind, event.payload)
        self.cursor = cursor
        return len(events)

    def _run(self) -> None:
        while not self.stop.wait(self.poll_seconds):
            try:
                self.relay_once()
            except Exception:  # a catalog away for a moment: the same events next time
                log.exception("mqtt relay: reading the catalog failed")

    def close(self) -> None:
        """Stop looking, after a last look so what the stopping daemon finished is told."""
        self.stop.set()
        self._thread.join(self.poll_seconds + 5)
        try:
            self.relay_once()
        except Exception:
            log.exception("mqtt relay: last look failed")
