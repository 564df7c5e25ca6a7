"""Shared fixtures: the tiny random model, built once, and a real server on localhost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEED_FR = REPO / "seeds" / "kremlin-pekin.fr.txt"
SEED_EN = REPO / "seeds" / "kremlin-pekin.en.ref.txt"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from alinea.models.tiny import build_tiny_model

    path = tmp_path_factory.mktemp("models") / "tiny-random-fr-en"
    build_tiny_model(path, SEED_FR, SEED_EN)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    from alinea.server.registry import load_model
    from alinea.server.translate import TranslatorSettings

    return load_model(tiny_model_dir, TranslatorSettings())


@dataclass
class RunningServer:
    process: subprocess.Popen
    address: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_server(model_dir: Path, log: Path, *extra: str, timeout: float = 60) -> RunningServer:
    """Start alinea-server on a free port and wait for its 'listening on' line."""
    command = [sys.executable, "-m", "alinea.server.main", "--port", "0", "--no-shipped-models",
               "--model-dir", str(model_dir), "--grace-period", "5", *extra]
    log_file = open(log, "w")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("alinea-server listening on"):
            port = line.rsplit(":", 1)[1].strip()
            return RunningServer(process, f"127.0.0.1:{port}", log)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"server did not start; log:\n{log.read_text()}")


@pytest.fixture(scope="session")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tiny_model_dir, tmp_path_factory.mktemp("server") / "server.log",
                           "--max-request-chars", "20000")
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer):
    from alinea.client.client import TranslationClient

    with TranslationClient(server.address, timeout=120) as c:
        yield c
