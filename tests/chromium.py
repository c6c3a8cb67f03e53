"""Headless Chromium driven through its DevTools protocol, for the console's browser test.

Why not Playwright or Selenium: both fetch their own browser or driver; Debian's ``chromium``
and a websocket client (``websocket-client``, a test extra) are all this needs.  The browser
runs with a throw-away profile and reports its DevTools port in ``DevToolsActivePort``.

A browser test module takes the ``browser`` fixture with ``pytest_plugins = ["chromium"]`` and
``pytestmark = BROWSER_MARKS`` (marked ``browser``; skipped, saying why, without Chromium).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from waiting import wait_for

BINARIES = ("chromium", "chromium-browser", "google-chrome")
# What the protocol answers to a question asked between one page and the next.
NAVIGATING = ("Inspected target navigated or closed", "Execution context was destroyed",
              "Cannot find context with specified id")


def find_chromium() -> str | None:
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


CHROMIUM = find_chromium()
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here: apt-get install chromium "
                                                "(Debian) to run the console's browser test"),
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    """A headless Chromium with a throw-away profile, closed after the test."""
    pytest.importorskip("websocket", reason="websocket-client (pip install -e '.[test]') drives Chromium")
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    profile.mkdir()
    chrome = Chromium(CHROMIUM, profile)
    yield chrome
    chrome.close()


KEYS = {"Enter": 13, "Escape": 27}  # the keys ``Chromium.press`` sends (Windows virtual key codes)


class Chromium:
    """One headless browser with one page; ``call`` sends a DevTools command and returns its result."""

    def __init__(self, binary: str, profile: Path, width: int = 1280, height: int = 1500) -> None:
        import websocket  # the test extra: only a browser test imports it

        args = [binary, "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--remote-debugging-port=0",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to sandbox as root (containers, CI)
        self.ws: Any = None  # until the DevTools server answers
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        if not wait_for(lambda: port_file.is_file() and len(port_file.read_text().split()) >= 2, 30):
            self.close()
            raise RuntimeError(f"{binary} did not start its DevTools server")
        port = port_file.read_text().split()[0]
        pages = [t for t in requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
                 if t["type"] == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self._next = 0
        self.events: list[dict[str, Any]] = []  # DevTools events that arrived between answers

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        self.ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:  # events arrive between answers: kept for ``console_errors``
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)
            elif message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited).  Asked while the
        page navigates (a form's submit, a reload), the old page's context may be gone before the
        new one exists: asked again there, for up to 5 s."""
        deadline = time.monotonic() + 5.0
        while True:
            try:
                got = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
                break
            except RuntimeError as e:
                if not any(m in str(e) for m in NAVIGATING) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if "exceptionDetails" in got:
            raise RuntimeError(f"{expression}: {got['exceptionDetails']}")
        return got["result"].get("value")

    def press(self, key: str) -> None:
        """A key (``KEYS``) as the keyboard sends it, not a script's synthetic event."""
        text = {"text": "\r"} if key == "Enter" else {}  # what Enter types: a click on a link or button
        self.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=key, windowsVirtualKeyCode=KEYS[key], **text)
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key, windowsVirtualKeyCode=KEYS[key])

    def click(self, selector: str) -> None:
        """A mouse click in the middle of the element (scrolled into view first)."""
        x, y = self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                             "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                             "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def log_console(self) -> None:
        """From now on record the page's console: its messages, uncaught exceptions and the
        browser's own log (a resource that failed to load, a refused script)."""
        self.call("Runtime.enable")
        self.call("Log.enable")

    def console_errors(self) -> list[str]:
        """The errors recorded since ``log_console``, in a few words each."""
        self.evaluate("0")  # a round trip: the events sent before it have arrived
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                details = p["exceptionDetails"]
                out.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"{p['entry']['text']} ({p['entry'].get('url', '')})")
        return out

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.settle()

    def settle(self) -> None:
        """Wait until the page (after a navigation or a form's submit) has loaded."""
        assert wait_for(lambda: self.evaluate("document.readyState") == "complete", 20)

    def screenshot(self, path: Path, whole_page: bool = False) -> bytes:
        """The viewport as a PNG, or with ``whole_page`` the page from its top to its end."""
        params: dict[str, Any] = {"format": "png"}
        if whole_page:  # laid out at the window's full width: no scroll bar takes a strip of it
            self.call("Emulation.setScrollbarsHidden", hidden=True)
            width, height = self.evaluate("[innerWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        data = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
