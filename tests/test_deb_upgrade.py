"""An upgrade from a real older build, as an admin's device goes through it (``make test-deb-upgrade``).

test_deb.py upgrades the package to a copy of itself with a new version: the maintainer scripts
and the code on both sides are the same.  Here the installed package is an older commit's own
build (``EDGE_ALPR_DEB_FROM``: a commit, built in a clone of this repository with ``make deb``, or
a .deb file), used as a site uses it before the upgrade: the config edited (the sample images as a
camera, a webhook receiver that is down), events kept in the history and queued undelivered in
the outbox.  Then this checkout's .deb is installed over it with apt, stdin closed (unattended):

* the package ends configured at the new version, apt never asks (ucf keeps the edited config);
* the unit runs the new code (``GET /info/``'s version) with the admin's config;
* the history written by the old version is read by the new one (the same event ids);
* the events queued before the upgrade reach the receiver once it is up (``X-Edge-Alpr-Event-Id``);
* installing the older build back (a downgrade) ends configured, and the service either runs or
  says why, in the journal, with the key or file it cannot use.

Not in ``make test-deb`` (CI): it builds a second .deb and boots a second container (about 3.5
min on 2 cores with both builds; ``EDGE_ALPR_DEB_TO``, a .deb of this checkout built already,
skips the second).  Needs what test_deb.py needs, plus git.  Measured from 0.1.0 (the config a
dpkg conffile then) and from 0.1.0+git760 (872e0d2, before the history kept frame sizes).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deb_container import (
    API,
    ARCH,
    ROOT,
    SUITE,
    Container,
    api_info,
    boot,
    build_deb,
    chroot,
    minbase,
    require,
    run,
    wait_for,
)

pytestmark = pytest.mark.deb

FROM = os.environ.get("EDGE_ALPR_DEB_FROM", "")
TO = os.environ.get("EDGE_ALPR_DEB_TO", "")
HOOK_PORT = 8099
HOOK = f"http://127.0.0.1:{HOOK_PORT}/hook"
# the admin's edits of the default config: the bundled sample images as a camera, a webhook
# receiver that is not up yet (its events wait in the outbox), retried every 2 s once it is
CAMERA_OFF = "  enabled: false                       # true once a camera is listed below\n"
WEBHOOKS = f"webhooks:\n  targets: [{HOOK}]\n  backoff_max_s: 2\n  max_failures: 0\n"


@pytest.fixture(scope="module")
def new_deb() -> Path:
    """This checkout's build, or ``EDGE_ALPR_DEB_TO`` (a .deb built already)."""
    if TO:
        require(Path(TO).is_file(), f"EDGE_ALPR_DEB_TO={TO}: no such file")
        return Path(TO).resolve()
    return build_deb(ROOT)


@pytest.fixture(scope="module")
def old_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The older build: ``EDGE_ALPR_DEB_FROM`` as a .deb file, or a commit built in a clone."""
    require(bool(FROM), "EDGE_ALPR_DEB_FROM is not set (a commit or a .deb): make test-deb-upgrade FROM=<commit>")
    if FROM.endswith(".deb"):
        require(Path(FROM).is_file(), f"EDGE_ALPR_DEB_FROM={FROM}: no such file")
        return Path(FROM).resolve()
    require(shutil.which("git") is not None, "git is missing (Debian package git)")
    clone = tmp_path_factory.mktemp("old") / "edge-alpr"
    run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(clone)], timeout=300)
    run(["git", "-C", str(clone), "checkout", "-q", FROM])
    # that commit's own `make deb`, whatever it prints (build_deb checks this checkout's output)
    run(["make", "-C", str(clone), "deb", f"SUITE={SUITE}"], timeout=1800)
    debs = sorted((clone / "dist").glob(f"edge-alpr_*_{ARCH}.deb"))
    assert len(debs) == 1, f"make deb at {FROM} wrote {debs}"
    return debs[0]


def _version(deb: Path) -> str:
    return run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()


def _events(box: Container) -> list[str]:
    """The ids of the events in the history (GET /v1/events/), oldest first."""
    client = ("import json, sys, requests\n"
              "r = requests.get(sys.argv[1] + '/v1/events/', params={'limit': 100}, timeout=30)\n"
              "r.raise_for_status()\n"
              "print(json.dumps([e['id'] for e in r.json()['results']]))\n")
    return sorted(json.loads(box.net(sys.executable, "-c", client, API).stdout))


def _queued(box: Container) -> int:
    """Events waiting in the outbox (SQLite, read from the host beside the service)."""
    db = sqlite3.connect(f"file:{box.rootfs}/var/lib/edge-alpr/outbox.sqlite?mode=ro", uri=True)
    try:
        tables = [name for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                  if "sink TEXT" in (sql or "")]
        return sum(int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in tables)
    finally:
        db.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    """A file the webhook receiver (started later, in the container's network) appends each
    event id it gets to; the receiver stopped at the end."""
    got = tmp_path / "received"
    started: list[subprocess.Popen[bytes]] = []
    yield got, started
    for proc in started:
        proc.terminate()
        proc.wait(10)


def _start_receiver(box: Container, got: Path) -> subprocess.Popen[bytes]:
    server = ("import sys\n"
              "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
              "class Hook(BaseHTTPRequestHandler):\n"
              "    def do_POST(self):\n"
              "        self.rfile.read(int(self.headers['Content-Length']))\n"
              "        with open(sys.argv[2], 'a') as f:\n"
              "            f.write(self.headers['X-Edge-Alpr-Event-Id'] + '\\n')\n"
              "        self.send_response(200); self.end_headers()\n"
              "    def log_message(self, *args):\n"
              "        pass\n"
              "HTTPServer(('127.0.0.1', int(sys.argv[1])), Hook).serve_forever()\n")
    return subprocess.Popen(["nsenter", "-t", str(box.leader), "-n", sys.executable, "-c", server,
                             str(HOOK_PORT), str(got)], stdin=subprocess.DEVNULL)


def _install(box: Container, deb: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``deb`` installed by apt-get as an unattended upgrade runs it (stdin closed)."""
    shutil.copy(deb, box.rootfs / "root" / deb.name)
    try:
        return box.sh(f"apt-get install -y -q {' '.join(options)} /root/{deb.name} 0<&-", timeout=600, check=False)
    finally:
        box.sh(f"rm -f /root/{deb.name}")


def _journal(box: Container) -> str:
    return box.sh("journalctl -u edge-alpr.service --no-pager -o cat -n 40", check=False).stdout


def test_upgrade_from_an_older_build_keeps_config_history_and_queue(
        old_deb: Path, new_deb: Path, tmp_path: Path,
        receiver: tuple[Path, list[subprocess.Popen[bytes]]]) -> None:
    old, new = _version(old_deb), _version(new_deb)
    assert run(["dpkg", "--compare-versions", old, "lt", new], check=False).returncode == 0, \
        f"the older build's version {old} does not sort before {new}: apt would not upgrade"
    rootfs = minbase(tmp_path)
    depends = run(["dpkg-deb", "-f", str(old_deb), "Depends"]).stdout + "," + \
        run(["dpkg-deb", "-f", str(new_deb), "Depends"]).stdout
    names = sorted({alt.split("|")[0].split("(")[0].strip() for alt in depends.split(",")} - {""})
    chroot(rootfs, "apt-get", "update", "-qq")
    chroot(rootfs, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *names)
    shutil.copy(old_deb, rootfs / "root" / old_deb.name)
    chroot(rootfs, "apt-get", "install", "-y", "-qq", "--no-install-recommends", f"/root/{old_deb.name}")
    (rootfs / "root" / old_deb.name).unlink()
    got, receivers = receiver
    with boot(rootfs, tmp_path / "boot.log") as box:
        assert wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90) == "active", \
            _journal(box)
        assert api_info(box)["version"] == old

        # The site before the upgrade: a camera, a receiver that is down, events kept and queued.
        config = rootfs / "etc" / "edge-alpr" / "config.yaml"
        text = config.read_text()
        assert CAMERA_OFF in text, "the default config's stream line changed: update CAMERA_OFF"
        config.write_text(text.replace(CAMERA_OFF, "  enabled: true\n") + WEBHOOKS)
        edited = config.read_text()
        box.sh("edge-alpr check-config && systemctl restart edge-alpr.service")
        assert wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90) == "active", \
            _journal(box)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (len(_events(box)) < 3 or _queued(box) < 3):
            time.sleep(2)
        before = _events(box)
        queued = _queued(box)
        assert len(before) >= 3 and queued >= 3, (before, queued, _journal(box))
        pid = box.show("MainPID")["MainPID"]

        # The upgrade, unattended.
        started = time.monotonic()
        upgrade = _install(box, new_deb)
        upgrade_s = time.monotonic() - started
        said = upgrade.stdout + upgrade.stderr
        assert upgrade.returncode == 0, said[-3000:]
        assert box.sh("dpkg-query -W -f='${Status} ${Version}' edge-alpr").stdout == f"install ok installed {new}"
        assert config.read_text() == edited, "the admin's config was replaced"
        assert wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90) == "active", \
            _journal(box)
        assert box.show("MainPID")["MainPID"] not in ("0", pid), "the unit was not restarted by the upgrade"
        assert api_info(box)["version"] == new
        after = _events(box)
        assert set(before) <= set(after), f"events of the older version lost: {sorted(set(before) - set(after))}"

        # The receiver comes up: everything queued before the upgrade goes out.
        receivers.append(_start_receiver(box, got))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not set(before) <= set(got.read_text().split() if got.exists() else []):
            time.sleep(1)
        delivered = set(got.read_text().split()) if got.exists() else set()
        assert set(before) <= delivered, f"queued before the upgrade, not delivered: {sorted(set(before) - delivered)}"

        # The older build installed back (a downgrade): configured, and running or saying why.
        downgrade = _install(box, old_deb, "--allow-downgrades")
        assert downgrade.returncode == 0, (downgrade.stdout + downgrade.stderr)[-3000:]
        assert box.sh("dpkg-query -W -f='${Status} ${Version}' edge-alpr").stdout == f"install ok installed {old}"
        assert config.read_text() == edited
        state = wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90)
        journal = _journal(box)
        if state == "active":
            assert api_info(box)["version"] == old
            kept = set(_events(box))
            assert set(before) <= kept, f"the older version lost events: {sorted(set(before) - kept)}"
        else:
            errors = box.sh("journalctl -u edge-alpr -p err -n 5 -o cat --no-pager").stdout
            assert re.search(r"/var/lib/edge-alpr|/etc/edge-alpr/config\.yaml", errors), journal
            assert "Traceback" not in journal, journal
        print(f"\n[deb] upgrade {old} -> {new} (unattended): {upgrade_s:.1f} s; {len(before)} events kept, "
              f"{queued} queued and delivered after it; downgrade back: the unit {state}")
