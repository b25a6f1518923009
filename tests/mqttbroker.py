"""A throwaway Mosquitto broker for tests: Debian's `mosquitto` listening on 127.0.0.1 on a free
port, its configuration in a temporary directory, no persistence; stopped (and restartable on the
same port, to test a broker that goes away and comes back) by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"


def find_mosquitto() -> str | None:
    return MOSQUITTO if Path(MOSQUITTO).exists() else shutil.which("mosquitto")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MosquittoBroker:
    def __init__(self, program: str) -> None:
        self.program = program
        self.root = Path(tempfile.mkdtemp(prefix="gapfill-mqtt-"))
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        (self.root / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            f"log_dest file {self.root / 'mosquitto.log'}\n"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> MosquittoBroker:
        self.process = subprocess.Popen(
            [self.program, "-c", str(self.root / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"mosquitto did not start; see {self.root}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
