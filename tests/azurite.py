"""Azurite (the Azure Storage emulator, from the project's node_modules) for tests: started once per
test session on ephemeral loopback ports, in memory, without telemetry; stopped at session end.

Conftests use it with `from tests.azurite import azurite  # noqa: F401`; the process is shared.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
# The emulator's published well-known development account (not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (http://\S+)")


@dataclass(frozen=True)
class AzuriteInstance:
    endpoints: dict[str, str]  # "Blob"/"Queue"/"Table" -> http://127.0.0.1:PORT

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoints['Blob']}/{ACCOUNT};"
            f"QueueEndpoint={self.endpoints['Queue']}/{ACCOUNT};"
            f"TableEndpoint={self.endpoints['Table']}/{ACCOUNT};"
        )

    @staticmethod
    def unique_prefix() -> str:
        """A table-name prefix so each test sees empty tables."""
        return "t" + uuid.uuid4().hex[:12]


class _Process:
    """One Azurite process shared by every conftest that registers the fixture."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._process: subprocess.Popen[str] | None = None
        self._instance: AzuriteInstance | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def acquire(self) -> AzuriteInstance:
        with self._lock:
            if self._instance is None:
                self._instance = self._start()
            self._users += 1
            return self._instance

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._process is not None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                if self._process.stdout is not None:
                    self._process.stdout.close()
                if self._workdir is not None:
                    self._workdir.cleanup()
                self._process = self._instance = self._workdir = None

    def _start(self) -> AzuriteInstance:
        if not AZURITE.exists():
            pytest.fail(f"Azurite is not installed ({AZURITE} is missing): run `make setup`", pytrace=False)
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        command = [
            str(AZURITE), "--silent", "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck",
            "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
            "--blobPort", "0", "--queuePort", "0", "--tablePort", "0",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, cwd=self._workdir.name, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        endpoints: dict[str, str] = {}
        deadline = time.monotonic() + 60
        output: list[str] = []
        assert self._process.stdout is not None
        while len(endpoints) < 3 and time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line:
                break
            output.append(line.rstrip())
            match = _LISTENING.search(line)
            if match:
                endpoints[match.group(1)] = match.group(2)
        if len(endpoints) < 3:
            self._process.kill()
            pytest.fail("Azurite did not start: " + " | ".join(output[-5:]), pytrace=False)
        # keep draining its output so a full pipe never blocks it
        threading.Thread(target=self._process.stdout.read, daemon=True).start()
        return AzuriteInstance(endpoints)


_SHARED = _Process()


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteInstance]:
    instance = _SHARED.acquire()
    try:
        yield instance
    finally:
        _SHARED.release()
