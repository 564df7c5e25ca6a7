"""Shared fixtures: the tiny random model, built once, and a real server on localhost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alinea.server.launch import LocalServer, start_local_server

REPO = Path(__file__).resolve().parent.parent
SEED_FR = REPO / "seeds" / "kremlin-pekin.fr.txt"
SEED_EN = REPO / "seeds" / "kremlin-pekin.en.ref.txt"
FLORES_FR = REPO / "tests" / "quality" / "flores200-dev" / "flores200-dev.fr"


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


def start_server(model_dir: Path, log: Path, *extra: str, timeout: float = 60) -> LocalServer:
    """alinea-server on a free port serving only `model_dir`, with a short grace period."""
    return start_local_server(["--no-shipped-models", "--model-dir", str(model_dir), "--grace-period", "5", *extra],
                              log, timeout)


@pytest.fixture(scope="session")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    running = start_server(tiny_model_dir, tmp_path_factory.mktemp("server") / "server.log",
                           "--max-request-chars", "20000")
    yield running
    running.stop()


@pytest.fixture
def client(server: LocalServer):
    from alinea.client.client import TranslationClient

    with TranslationClient(server.address, timeout=120) as c:
        yield c
