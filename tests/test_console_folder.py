"""A folder camera that has nothing to read says so in the console, instead of "starting (no
frame yet)", which reads as a camera still opening (or stuck opening).

After a restart a drop box whose files were all read before (their events sent then) reads
none of them again (``sources/ledger.py``), so no frame comes: the camera waits for new files,
and the console says that and how many files in the folder were read already; an empty folder
waits for its first file.  The whole service runs twice on one state folder, with the real
recognizer, and the state is read from the console's parts over its socket.
"""

from __future__ import annotations

import re
import shutil
import threading
from html import unescape
from pathlib import Path
from typing import Any

import requests
from waiting import wait_for

from edge_alpr import config
from edge_alpr.service import build
from edge_alpr.stream.sources import sample_dir


def _service(tmp_path: Path, recognizer: Any, cameras: list[dict[str, Any]]) -> Any:
    cfg = config.from_dict({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
                            "api": {"port": 0, "threads": 4}, "stream": {"cameras": cameras}}, "<test>")
    return build(cfg, threading.Event(), recognizer=recognizer)


def _states(url: str) -> dict[str, str]:
    """Each camera's State cell as the console shows it (its first line), by the camera's id."""
    cells = re.findall(r'<td data-label="Camera">([^<]*)</td>.*?<td data-label="State">([^<]*)',
                       requests.get(f"{url}/console/parts", timeout=10).json()["cameras"], re.S)
    return {unescape(camera): unescape(state).strip() for camera, state in cells}


def _last_frames(url: str) -> dict[str, str]:
    """Each camera's Last frame cell, by the camera's id."""
    cells = re.findall(r'<td data-label="Camera">([^<]*)</td>.*?<td class="num wrap" data-label="Last frame">([^<]*)',
                       requests.get(f"{url}/console/parts", timeout=10).json()["cameras"], re.S)
    return {unescape(camera): unescape(last).strip() for camera, last in cells}


def test_a_folder_read_before_the_restart_waits_for_new_files(tmp_path: Path, recognizer: Any,
                                                               no_token: None) -> None:
    folder, empty = tmp_path / "drop", tmp_path / "empty"
    folder.mkdir()
    empty.mkdir()
    for sample in sorted(sample_dir().glob("*.jpg"))[:2]:
        shutil.copyfile(sample, folder / sample.name)
    drop = {"id": "drop", "source": {"kind": "folder", "path": str(folder), "poll_interval": 0.1}}

    # the first start reads both files (to the end: watch off), and remembers them
    svc = _service(tmp_path, recognizer, [{**drop, "source": {**drop["source"], "watch": False}}])
    try:
        assert wait_for(lambda: svc.cameras[0].stats.ended, 60)
        assert svc.cameras[0].stats.frames_read == 2
    finally:
        svc.close()

    # restarted, watching: nothing to read, and the console says what the camera waits for
    svc = _service(tmp_path, recognizer, [
        drop, {"id": "empty", "source": {"kind": "folder", "path": str(empty), "poll_interval": 0.1}}])
    try:
        url = f"http://127.0.0.1:{svc.api.server.port}"
        want = {"drop": "waiting for new files (2 in the folder already read)",
                "empty": "waiting for files (none in the folder)"}
        assert wait_for(lambda: _states(url) == want, 10), _states(url)
        assert [c.stats.frames_read for c in svc.cameras] == [0, 0]  # not read again
        # its last frame is the last file read before the restart (this run's counters are 0);
        # the empty folder never gave one
        last = _last_frames(url)
        assert re.fullmatch(r"\d+ s ago \(before the restart\)", last["drop"]), last
        assert last["empty"] == "never", last
        info = requests.get(f"{url}/info/", timeout=10).json()["cameras"]
        assert [c["last_frame_at"] is not None for c in info] == [True, False], info
        # a new file is read, and the camera waits again, counting it
        shutil.copyfile(sorted(sample_dir().glob("*.jpg"))[2], folder / "new.jpg")
        assert wait_for(lambda: _states(url)["drop"] == "waiting for new files (3 in the folder already read)",
                        20), _states(url)
        assert svc.cameras[0].stats.frames_read == 1
        assert re.fullmatch(r"\d+ s ago", _last_frames(url)["drop"]), _last_frames(url)
    finally:
        svc.close()
