"""Shared fixtures: sample images, the real recognizer, a real API server on a loopback socket,
and a real local HTTP receiver for webhooks and ``upload_url``.

Nothing here is faked: the server is the production cheroot server with the bundled int8
models, bound to a free 127.0.0.1 port.

Real data: every test reads the fixture set ``tests/data`` (``data_paths.py``); the scripts'
data lookups (``datasets.DATA``, ``EDGE_ALPR_DATA`` for subprocesses) point there.  A test
marked ``data`` reads the full data through ``full_data`` instead, and fails when it is missing;
any other test that touches the full data fails at that read (``data_paths.GUARD``), so a suite that
passes here with ../shared beside it also passes in a plain clone.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# the broker, browser and image server fixture modules are imported by test modules and loaded as
# their plugin: mark them for assertion rewriting before either happens
pytest.register_assert_rewrite("mosquitto", "chromium", "tests.image_server")
import data_paths  # noqa: E402  (imported once: it holds the one audit hook)

from scripts.data import synth  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "edge_alpr" / "samples"

# The scripts (and their subprocesses) look up data in the fixture set unless a test says otherwise.
data_paths.datasets.DATA = data_paths.FIXTURE
os.environ["EDGE_ALPR_DATA"] = str(data_paths.FIXTURE)
# The plate renderer's fonts too: FreeType opens them in C, out of the audit hook's sight, so a
# test that renders plates would otherwise read ../shared unnoticed (and fail in a plain clone).
synth.set_font_dir(data_paths.FIXTURE / "fonts")


@pytest.fixture(autouse=True)
def _data_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    data_paths.GUARD.active = request.node.get_closest_marker("data") is None
    yield
    data_paths.GUARD.active = True


@pytest.fixture
def full_data(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The full data, for a test marked ``data``; fails (never skips) when it is not there."""
    if request.node.get_closest_marker("data") is None:
        pytest.fail("full_data is for tests marked @pytest.mark.data")
    if not (data_paths.FULL / "detection").is_dir():
        pytest.fail(f"no full data at {data_paths.FULL} (put it there or set EDGE_ALPR_DATA): "
                    f"`make test-data` needs it; `make test` runs without it")
    monkeypatch.setattr(data_paths.datasets, "DATA", data_paths.FULL)
    monkeypatch.setenv("EDGE_ALPR_DATA", str(data_paths.FULL))
    synth.set_font_dir(data_paths.FULL / "fonts")
    request.addfinalizer(lambda: synth.set_font_dir(data_paths.FIXTURE / "fonts"))
    return data_paths.FULL


@pytest.fixture(scope="session")
def sample_images() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg"))


@pytest.fixture(scope="session")
def sample_labels() -> dict[str, Any]:
    return json.loads((SAMPLES / "labels.json").read_text())


@pytest.fixture(scope="session")
def recognizer() -> Any:
    """The real recognizer over the bundled models, loaded once per test session."""
    from edge_alpr.recognizer import ModelsConfig, Recognizer

    return Recognizer.from_config(ModelsConfig())


@dataclass
class RunningApi:
    url: str
    runtime: Any
    state_dir: Path


@pytest.fixture
def api_factory(tmp_path: Path, recognizer: Any, monkeypatch: pytest.MonkeyPatch
                ) -> Iterator[Callable[..., RunningApi]]:
    """Start the real API server: ``api_factory({"api": {...}}, token="k")``."""
    from edge_alpr import config
    from edge_alpr.api.server import build

    started: list[Any] = []

    def start(overrides: dict[str, Any] | None = None, token: str | None = None,
              state_dir: Path | None = None) -> RunningApi:
        obj: dict[str, Any] = {"state_dir": str(state_dir or tmp_path / "state"),
                               "mqtt": {"enabled": False}, "stream": {"enabled": False}}
        for key, value in (overrides or {}).items():
            obj[key] = value
        obj.setdefault("api", {})
        obj["api"] = {"port": 0, "threads": 4, **obj["api"]}
        if token is None:
            monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
        else:
            monkeypatch.setenv("EDGE_ALPR_API_TOKEN", token)
        monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
        runtime = build(config.from_dict(obj, "<test>"), recognizer=recognizer)
        started.append(runtime)
        return RunningApi(f"http://127.0.0.1:{runtime.server.port}", runtime,
                          Path(obj["state_dir"]))

    yield start
    for runtime in started:
        runtime.close()


@pytest.fixture
def api(api_factory: Callable[..., RunningApi]) -> RunningApi:
    """A default server: no token, loopback, no quota."""
    return api_factory()


@dataclass
class Receiver:
    """A real HTTP server that records POSTs; ``status`` is what it answers (e.g. 503 = down)."""

    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    files: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(port=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # serves rec.files for upload_url tests
            data = rec.files.get(self.path)
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if rec.status == 200:
                with rec.lock:
                    rec.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


def jpeg_bytes(width: int, height: int, seed: int = 0) -> bytes:
    """A real JPEG of noise (no plate) of the given size."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=80)
    return out.getvalue()


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """No API token from the environment or systemd credentials: the service serves loopback openly."""
    monkeypatch.delenv("EDGE_ALPR_API_TOKEN", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
