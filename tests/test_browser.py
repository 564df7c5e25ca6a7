"""The HTML view in a real browser: headless Chromium, driven over the DevTools protocol.

The test moves the browser's own mouse pointer (Input.dispatchMouseEvent)
onto a word, so the highlight comes from the page's own mouseover handler
reacting to real hit-testing, not from a hook. The protocol runs over
Chromium's --remote-debugging-pipe (file descriptors 3 and 4, NUL-separated
JSON), which needs no port and no websocket library.

Needs Debian's chromium (`apt-get install -y chromium`); skipped without it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from alinea.client.cli import main
from conftest import SEED_FR

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install -y chromium)"
)


def _high(fd: int) -> int:
    """The same pipe end on a descriptor above 9, clear of the 3 and 4 that Chromium expects."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, profile: Path, log: Path, timeout: float = 30):
        self.timeout = timeout
        self.log = log
        commands_read, self._commands = map(_high, os.pipe())  # we write, Chromium reads its fd 3
        self._replies, replies_write = map(_high, os.pipe())  # Chromium writes its fd 4, we read
        # bash puts the pipe ends on fds 3 and 4 and execs Chromium (not preexec_fn: this process has threads).
        redirect = f'exec 3<&{commands_read} 4>&{replies_write} {commands_read}<&- {replies_write}>&-; exec "$0" "$@"'
        self.process = subprocess.Popen(
            ["bash", "-c", redirect, CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--mute-audio", "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1280,900",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
            pass_fds=(commands_read, replies_write),
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self.session: str | None = None

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._replies], [], [], remaining)[0]:
                raise TimeoutError(f"no answer from chromium; its log:\n{self.log.read_text(errors='replace')[-2000:]}")
            chunk = os.read(self._replies, 65536)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe; its log:\n{self.log.read_text(errors='replace')[-2000:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def move_mouse(self, x: float, y: float) -> None:
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="none")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - it may already be gone
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)


# Where a word is on screen, once scrolled into view: the centre of its first box.
_CENTRE = """(() => {
  const w = document.getElementById(%s);
  w.scrollIntoView({block: "center"});
  const r = w.getClientRects()[0];
  return [r.left + r.width / 2, r.top + r.height / 2];
})()"""
_HIGHLIGHTED = "[...document.querySelectorAll('.w.hl')].map(e => e.id).sort()"


@pytest.fixture
def browser(tmp_path: Path):
    devtools = DevTools(tmp_path / "profile", tmp_path / "chromium.log")
    yield devtools
    devtools.close()


def test_hovering_a_word_highlights_its_aligned_words(server, capsys, tmp_path, browser):
    page = tmp_path / "seed.en.html"
    code = main(["translate", str(SEED_FR), "--format", "html", "-o", str(page), "--beam-size", "1",
                 "--server", server.address])
    capsys.readouterr()
    assert code == 0
    browser.open(page.as_uri())

    words = browser.evaluate("""[...document.querySelectorAll('.w')].map(w => [w.id, w.dataset.links || ''])""")
    links = {word: set(targets.split()) for word, targets in words if targets}
    assert len(words) > 100 and links, "the seed article's words should carry alignment links"
    # The links are symmetric: if a source word points to a target word, that one points back.
    for word, targets in links.items():
        for other in targets:
            assert word in links.get(other, ()), (word, other)

    # A source word, hovered with the real pointer, lights up exactly its target words ...
    source_word = next(w for w in links if w.startswith("s"))
    browser.move_mouse(*browser.evaluate(_CENTRE % json.dumps(source_word)))
    assert browser.evaluate(_HIGHLIGHTED) == sorted(links[source_word])
    assert browser.evaluate(f"document.getElementById({json.dumps(source_word)}).classList.contains('self')")
    highlighted_colour = browser.evaluate(
        f"getComputedStyle(document.getElementById({json.dumps(sorted(links[source_word])[0])})).backgroundColor")
    assert highlighted_colour not in ("rgba(0, 0, 0, 0)", "transparent")
    segment = source_word.split("-")[0][1:]
    assert browser.evaluate(f"document.getElementById('seg-t{segment}').classList.contains('pair')")

    screenshot = tmp_path / "seed-hover.png"
    screenshot.write_bytes(base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"]))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with capsys.disabled():
        print(f"\nscreenshot of the HTML view, {source_word} hovered: {screenshot}")

    # ... and moving away clears them; a target word lights up its source words.
    browser.move_mouse(2, 2)
    assert browser.evaluate(_HIGHLIGHTED) == []
    target_word = next(w for w in links if w.startswith("t"))
    browser.move_mouse(*browser.evaluate(_CENTRE % json.dumps(target_word)))
    assert browser.evaluate(_HIGHLIGHTED) == sorted(links[target_word])

    # Nothing was fetched: the page is self-contained.
    assert browser.evaluate("performance.getEntriesByType('resource').length") == 0


def test_words_without_links_highlight_nothing(server, capsys, tmp_path, browser):
    page = tmp_path / "plain.html"
    source = tmp_path / "plain.fr.txt"
    source.write_text("Bonjour le monde.\n\n2014\n", encoding="utf-8")
    code = main(["translate", str(source), "--format", "html", "-o", str(page), "--no-alignment",
                 "--server", server.address])
    capsys.readouterr()
    assert code == 0
    browser.open(page.as_uri())
    assert browser.evaluate("document.querySelectorAll('.w[data-links]').length") == 0
    assert browser.evaluate("document.querySelector('.seg.copied').textContent") == "2014"
    browser.move_mouse(*browser.evaluate(_CENTRE % json.dumps("s0-0")))
    assert browser.evaluate(_HIGHLIGHTED) == []
    assert browser.evaluate("document.getElementById('s0-0').classList.contains('self')")
