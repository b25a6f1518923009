"""The daemon's one connection to the plant's MQTT broker (paho-mqtt), which never blocks a caller.

- `publish()` only appends to a bounded in-memory queue and returns: a repair, a scan or a watch
  tick never waits on the network. When the queue is full the oldest event is dropped (the newest
  say most about the present) and counted (`dropped`, exported as gapfill_mqtt_dropped_events).
- A sender thread hands queued events to paho while connected, at QoS 1; paho's network thread
  reconnects on its own with exponential backoff (reconnect_delay_set: 1 s doubling to 60 s).
- `<prefix>/availability` is "online" (retained) on every connect, and the broker publishes the
  retained last will "offline" if the daemon vanishes; a clean stop publishes "offline" itself.
  This is Frigate's convention, so a Home Assistant or SCADA gateway watching Frigate reads
  gapfill's the same way.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from gapfill.errors import UserError

log = logging.getLogger("gapfill.mqtt")

QOS = 1
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 60
PAHO_QUEUE = 100


def parse_mqtt_url(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """(host, port, user, password, tls) of mqtt://[user:pass@]host[:port] or mqtts://..."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise UserError("mqtt_url: not an MQTT URL (mqtt://host:1883 or mqtts://host:8883)")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise UserError("mqtt_url: the port is not a number from 1 to 65535") from None
    return parts.hostname, port, parts.username, parts.password, tls


class MqttPublisher:
    """Events to `<prefix>/<camera>/<kind>` and availability, through a bounded queue."""

    def __init__(self, url: str, prefix: str, queue_size: int = 1000) -> None:
        import paho.mqtt.client as mqtt

        self.host, self.port, user, password, tls = parse_mqtt_url(url)
        self.prefix = prefix.strip("/")
        self.availability_topic = f"{self.prefix}/availability"
        self.dropped = 0
        self.published = 0
        self._queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self._cap = queue_size
        self._wake = threading.Condition()
        self._stopping = False
        self._connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            # Unique per process: a broker disconnects a client whose id another one takes.
            client_id=f"gapfill-{socket.gethostname()}-{os.getpid()}",
            clean_session=True,
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set()
        self.client.will_set(self.availability_topic, "offline", qos=QOS, retain=True)
        self.client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        # paho's own queue (handed over, not yet acknowledged) is bounded too; ours keeps the rest.
        self.client.max_queued_messages_set(max(queue_size, PAHO_QUEUE))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)

    @property
    def queued(self) -> int:
        """Events waiting for the broker."""
        return len(self._queue)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background: a broker that is down now is tried again with backoff."""
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._sender.start()

    def publish(self, camera: str, kind: str, payload: dict[str, Any]) -> None:
        """Queue one event for `<prefix>/<camera>/<kind>`; returns at once, whatever the broker."""
        body = json.dumps(payload, default=str, separators=(",", ":")).encode()
        with self._wake:
            if len(self._queue) >= self._cap:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((f"{self.prefix}/{camera}/{kind}", body))
            self._wake.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Say "offline" (retained), send what the queue holds while connected, disconnect."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._sender.join(timeout)
        if self.connected:
            info = self.client.publish(self.availability_topic, "offline", qos=QOS, retain=True)
            info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    # --- paho callbacks (its network thread) -----------------------------------------------

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt: broker refused the connection", extra={"reason": str(reason)})
            return
        client.publish(self.availability_topic, "online", qos=QOS, retain=True)
        self._connected.set()
        with self._wake:
            self._wake.notify()
        log.info("mqtt: connected", extra={"host": self.host, "port": self.port})

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        log.warning("mqtt: disconnected; reconnecting", extra={"reason": str(reason)})

    # --- the sender thread ------------------------------------------------------------------

    def _send_loop(self) -> None:
        import paho.mqtt.client as mqtt

        while True:
            with self._wake:
                while not (self._queue and self.connected) and not self._stopping:
                    self._wake.wait(1.0)
                if not self._queue or not self.connected:
                    return  # stopping, with nothing (or no broker) to send to
                topic, body = self._queue.popleft()
            info = self.client.publish(topic, body, qos=QOS)
            # NO_CONN: the connection dropped just now; paho keeps a QoS 1 message and sends it
            # after it reconnects. Only its own queue being full loses the event.
            if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self.published += 1
                continue
            # paho's own queue is full of messages the broker has not acknowledged yet: wait a
            # little with the event back at the head of ours (which counts what it drops).
            with self._wake:
                if len(self._queue) >= self._cap:
                    self.dropped += 1
                else:
                    self._queue.appendleft((topic, body))
                self._wake.wait(0.1)
