"""Start alinea-server as a child process and wait until it accepts calls.

For integration tests, benchmarks and scripts: the server picks a free port
(`--port 0`), prints "alinea-server listening on HOST:PORT", and this
module reads that line, so nothing races on a fixed port.

    with start_local_server(["--model-dir", "models/opus-mt-fr-en"]) as server:
        TranslationClient(server.address).translate(...)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

READY = "alinea-server listening on"


@dataclass
class LocalServer:
    process: subprocess.Popen
    address: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send `sig` (SIGTERM: graceful) and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_local_server(args: list[str], log: Path | None = None, timeout: float = 120,
                       env: dict[str, str] | None = None) -> LocalServer:
    """Run `alinea-server --port 0 ARGS`, its stderr into `log`; RuntimeError with the log if it never gets ready."""
    if log is None:
        fd, name = tempfile.mkstemp(prefix="alinea-server-", suffix=".log")
        os.close(fd)
        log = Path(name)
    command = [sys.executable, "-m", "alinea.server.main", "--port", "0", *args]
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True,
                                   env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(READY):
            port = line.rsplit(":", 1)[1].strip()
            return LocalServer(process, f"127.0.0.1:{port}", log)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"alinea-server did not start; its log:\n{log.read_text()}")
