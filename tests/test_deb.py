"""The Debian package end to end, on a real Debian system container of the release it is built for.

The release (SUITE) is this machine's (``VERSION_CODENAME`` in /etc/os-release), or
``EDGE_ALPR_DEB_SUITE`` (``make test-deb SUITE=trixie`` on a bookworm machine): the package depends
on that release's python3.X (bookworm 3.11, trixie 3.13).

1. ``make deb SUITE=...`` builds the .deb (dpkg-buildpackage under ``env -i``; for another release
   in a debootstrap chroot of it); lintian has nothing to say.
2. A clean *minbase* tree of SUITE made by debootstrap (plus systemd to boot it; cached as a
   tarball in ``$EDGE_ALPR_CACHE`` or ``~/.cache/edge-alpr``, CI starts without one) gets the
   package's dependencies from the Debian mirror, then the .deb with ``apt-get install ./x.deb``
   run in a chroot: the way an image is built (pi-gen stage, Jetson rootfs).
3. ``systemd-nspawn -b`` boots it (private network).  The unit, enabled by the package, starts at
   boot; we check it is active (Type=notify: READY=1 was received), runs as the sysusers user in
   group video, answers ``POST /v1/plate-reader/`` with the plates of the bundled sample images
   (expected text from the dataset labels, never from model output) and pets the watchdog.
4. ``systemd-analyze verify`` prints nothing on stderr; ``systemd-analyze security`` <= 2.5.
5. ``apt-get remove`` stops the unit and removes the program, keeping the config as edited and
   the state (outbox, counters, history); then ``apt-get purge`` leaves nothing behind but what
   README.Debian's purge policy keeps (the system user).  An upgrade from a real older build is
   test_deb_upgrade.py (``make test-deb-upgrade FROM=<commit>``, not in CI).

It needs root, debootstrap, systemd-nspawn, lintian, the models, and for this machine's release
dpkg-buildpackage and debhelper (another's builds in its chroot): missing ones fail the test under
CI=true and skip it (with the reason) elsewhere.
Measurements (sizes, RSS, start-up time, stop time) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.deb_container import (
    API,
    ARCH,
    ROOT,
    Container,
    api_info,
    boot,
    build_deb,
    chroot,
    minbase,
    run,
    wait_for,
)
from tests.deb_tree import tree

pytestmark = pytest.mark.deb  # `make test-deb`; `make test` leaves it out

SAMPLES = ROOT / "edge_alpr" / "samples"
LABELS: dict[str, Any] = json.loads((SAMPLES / "labels.json").read_text())


MAX_SECURITY_EXPOSURE = 2.5
READS = 100


def plate_matches(read: str, label: str, max_wrong: int = 1) -> bool:
    """Same length and at most ``max_wrong`` differences on the characters the label shows."""
    read, label = read.upper(), label.upper()
    if len(read) != len(label):
        return False
    return sum(1 for r, e in zip(read, label, strict=True) if e != "?" and r != e) <= max_wrong


@pytest.fixture(scope="module")
def deb() -> Path:
    return build_deb(ROOT)


def test_lintian_clean(deb: Path) -> None:
    proc = run(["lintian", "--fail-on", "error,warning", str(deb)], check=False, timeout=300)
    tags = [line for line in proc.stdout.splitlines() if re.match(r"^[EW]: ", line)]
    assert proc.returncode == 0 and not tags, "\n".join(tags[:40]) or proc.stderr


def test_package_metadata(deb: Path) -> None:
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    # The venv is tied to the interpreter's minor version (the build's /usr/bin/python3).
    pinned = re.search(r"python3 \(>= 3\.(\d+)\), python3 \(<< 3\.(\d+)\)", depends)
    assert pinned and int(pinned.group(2)) == int(pinned.group(1)) + 1, depends
    minor = int(pinned.group(1))
    names = run(["dpkg-deb", "-c", str(deb)]).stdout
    for path in ("./opt/venvs/edge-alpr/bin/edge-alpr", "./usr/bin/edge-alpr -> /opt/venvs/edge-alpr/bin/edge-alpr",
                 "./usr/lib/sysusers.d/edge-alpr.conf", "./etc/edge-alpr/\n",
                 "./usr/share/edge-alpr/config.yaml\n", "./usr/share/edge-alpr/config.yaml.md5sum\n",
                 "./usr/share/edge-alpr/jetson-csi.conf"):
        assert path in names, path
    # /lib (bookworm's debhelper) or /usr/lib (trixie's: merged /usr)
    assert re.search(r" \./(usr/)?lib/systemd/system/edge-alpr\.service$", names, re.M), \
        "no edge-alpr.service in ./lib/systemd/system or ./usr/lib/systemd/system"
    models = re.findall(r"share/edge-alpr/models/(\S+\.tflite)", names)
    assert sorted(models) == sorted(p.name for p in (ROOT / "models" / "quantized").glob("*.tflite"))
    assert "__pycache__" not in names and ".pyc" not in names
    # pruned: never loaded by the service (test_service_boots_reads_plates_and_purges runs it from this tree)
    for never_loaded in (r"/ai_edge_litert/libLiteRtWebGpuAccelerator\.so$", r"/site-packages/ml_dtypes/",
                         r"/site-packages/numpy/(.+/)?tests/", r"/site-packages/numpy/(_?core)/include/",
                         r"/site-packages/(setuptools|pkg_resources|_distutils_hack)[/-]"):
        assert not re.search(never_loaded, names, re.M), f"{never_loaded} is in the package"
    # /etc/edge-alpr/config.yaml is ucf's (postinst), never a dpkg conffile: no prompt on upgrade
    assert "./etc/edge-alpr/config.yaml" not in names
    conffiles = run(["dpkg-deb", "-I", str(deb), "conffiles"], check=False).stdout.split()
    assert "/etc/edge-alpr/config.yaml" not in conffiles, conffiles
    version = run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
    stamp = re.search(r"site-packages/edge_alpr/PACKAGE_VERSION$", names, re.M)
    assert stamp, "no edge_alpr/PACKAGE_VERSION (the Debian version debian/rules stamps) in the package"
    stamped = run(["sh", "-c", f"dpkg-deb --fsys-tarfile {deb} | tar -xOf - --wildcards '*/edge_alpr/PACKAGE_VERSION'"])
    assert stamped.stdout.strip() == version, (stamped.stdout, version)
    assert f"./opt/venvs/edge-alpr/lib/python3.{minor}/site-packages/" in names, "venv not for the Depends' Python"
    numpy = re.search(r"site-packages/numpy-(\d+)\.", names)
    # debian/constraints.txt: numpy<2 up to 3.12 (apt's OpenCV/picamera2, tflite-runtime ABI); 3.13
    # (trixie) has numpy 2 in apt and no numpy<2 wheel
    assert numpy and (int(numpy.group(1)) < 2) == (minor < 13), f"numpy {numpy and numpy.group(0)} for Python 3.{minor}"


@pytest.fixture(scope="module")
def booted(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, set[str], Path]]:
    tmp = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    rootfs = minbase(tmp)
    # Dependencies first (from the mirror), so the snapshot for the purge check has them.
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    names = sorted({alt.split("|")[0].split("(")[0].strip() for alt in depends.split(",")} - {""})
    chroot(rootfs, "apt-get", "update", "-qq")
    chroot(rootfs, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *names)
    before = tree(rootfs)
    shutil.copy(deb, rootfs / "root" / "edge-alpr.deb")
    # The image-building path: install in a chroot (no systemd running), enabled for next boot.
    chroot(rootfs, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "/root/edge-alpr.deb")
    print(f"\n[deb] rootfs + install: {time.monotonic() - started:.0f} s")
    log = tmp / "boot.log"
    with boot(rootfs, log) as box:
        yield box, before, log


def _read_plates(box: Container, names: list[str], repeat: int = 1) -> list[dict[str, Any]]:
    """POST each image ``repeat`` times from the host, inside the container's network."""
    client = (
        "import json, sys, requests\n"
        "out = []\n"
        "for _ in range(int(sys.argv[2])):\n"
        "    for path in sys.argv[3:]:\n"
        "        with open(path, 'rb') as f:\n"
        "            r = requests.post(sys.argv[1] + '/v1/plate-reader/', files={'upload': f}, timeout=60)\n"
        "        out.append({'status': r.status_code, 'body': r.json()})\n"
        "print(json.dumps(out))\n")
    proc = box.net(sys.executable, "-c", client, API, str(repeat), *[str(SAMPLES / n) for n in names])
    return list(json.loads(proc.stdout))


def _rss_kib(box: Container, pid: str) -> int:
    status = box.sh(f"cat /proc/{pid}/status").stdout
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match.group(1))


def _next_release(deb: Path, tmp: Path, suffix: str) -> tuple[Path, str]:
    """``deb`` as its next release: version ``<version>+<suffix>`` (stamped into the package as
    debian/rules does) and a changed default config; the maintainer scripts are the built ones."""
    tree = tmp / suffix
    run(["dpkg-deb", "-R", str(deb), str(tree)])
    control = tree / "DEBIAN" / "control"
    match = re.search(r"^Version: (\S+)$", control.read_text(), re.M)
    assert match, control.read_text()
    version = f"{match.group(1)}+{suffix}"
    control.write_text(control.read_text().replace(match.group(0), f"Version: {version}"))
    stamps = list(tree.glob("opt/venvs/edge-alpr/lib/python3.*/site-packages/edge_alpr/PACKAGE_VERSION"))
    assert len(stamps) == 1, stamps
    stamps[0].write_text(version + "\n")
    default = tree / "usr" / "share" / "edge-alpr" / "config.yaml"
    default.write_text(default.read_text() + f"# a default changed in {version}\n")
    md5sums = tree / "DEBIAN" / "md5sums"
    lines = md5sums.read_text().splitlines()
    for changed in (stamps[0], default):
        rel = str(changed.relative_to(tree))
        lines = [f"{hashlib.md5(changed.read_bytes()).hexdigest()}  {rel}" if line.endswith(f"  {rel}") else line
                 for line in lines]
    md5sums.write_text("\n".join(lines) + "\n")
    out = tmp / f"edge-alpr_{version}_{ARCH}.deb"
    run(["dpkg-deb", "-Zgzip", "-z1", "-b", str(tree), str(out)], timeout=300)
    shutil.rmtree(tree)
    return out, version


def test_unattended_upgrade_keeps_the_edited_config_and_restarts(
        deb: Path, booted: tuple[Container, set[str], Path], tmp_path: Path) -> None:
    """An upgrade as unattended-upgrades or a cron job runs it (no terminal: stdin closed, with and
    without DEBIAN_FRONTEND=noninteractive) over a config the admin edited, with a changed default:
    the package ends configured, the admin's file kept (the new default beside it), the unit
    restarted on the new code (GET /info/ reports the new Debian version)."""
    box, _, _ = booted
    state = wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90)
    assert state == "active", box.sh("journalctl -u edge-alpr.service --no-pager -n 40", check=False).stdout
    built = run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
    assert box.sh("dpkg-query -W -f='${Version}' edge-alpr").stdout == built
    assert api_info(box)["version"] == built, "GET /info/ does not report the installed package's version"
    box.sh("sed -i 's/^api:$/api:\\n  license_key: edited-by-the-admin/' /etc/edge-alpr/config.yaml && "
           "grep -q '^  license_key: edited-by-the-admin$' /etc/edge-alpr/config.yaml && "
           "systemctl restart edge-alpr.service")
    edited = box.sh("cat /etc/edge-alpr/config.yaml").stdout
    for suffix, env in (("upgrade1", "env -u DEBIAN_FRONTEND"), ("upgrade2", "env DEBIAN_FRONTEND=noninteractive")):
        assert wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90) == "active"
        pid = box.show("MainPID")["MainPID"]
        newer, version = _next_release(deb, tmp_path, suffix)
        shutil.copy(newer, box.rootfs / "root" / newer.name)
        started = time.monotonic()
        upgrade = box.sh(f"{env} apt-get install -y -q /root/{newer.name} 0<&-", timeout=600, check=False)
        upgrade_s = time.monotonic() - started
        box.sh(f"rm /root/{newer.name}")
        status = box.sh("dpkg-query -W -f='${Status} ${Version}' edge-alpr; dpkg --audit", check=False).stdout
        assert upgrade.returncode == 0 and status == f"install ok installed {version}", \
            f"{env} apt-get install (stdin closed) -> {upgrade.returncode}: {status}\n{upgrade.stdout[-2000:]}\n" \
            f"{upgrade.stderr[-2000:]}"
        assert box.sh("cat /etc/edge-alpr/config.yaml").stdout == edited, "the admin's config was replaced"
        assert f"# a default changed in {version}" in box.sh("cat /etc/edge-alpr/config.yaml.ucf-dist").stdout
        state = wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90)
        assert state == "active" and box.show("MainPID")["MainPID"] not in ("0", pid), \
            f"the unit was not restarted by the upgrade ({state}, MainPID {pid})"
        info = api_info(box)
        assert (info["version"], info["license_key"]) == (version, "edited-by-the-admin"), info
        print(f"\n[deb] unattended upgrade to {version} ({env}, stdin closed): {upgrade_s:.1f} s, "
              f"config kept, new default in config.yaml.ucf-dist, restarted")


def _upgrade_unattended(box: Container, deb: Path, tmp_path: Path, tag: str) -> str:
    """Install the next release's build of ``deb`` with apt, no terminal (stdin closed): apt's
    output, once the package is installed and configured at that version."""
    newer, version = _next_release(deb, tmp_path, tag)
    shutil.copy(newer, box.rootfs / "root" / newer.name)
    try:
        upgrade = box.sh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/{newer.name} 0<&-",
                         timeout=600, check=False)
    finally:
        box.sh(f"rm -f /root/{newer.name}")
    said = upgrade.stdout + upgrade.stderr
    assert upgrade.returncode == 0, said[-3000:]
    assert box.sh("dpkg-query -W -f='${Status} ${Version}' edge-alpr").stdout == f"install ok installed {version}"
    return said


# What deb-systemd-invoke and systemctl say when a start fails: apt's output must not show them
# (postinst says what failed and what to do, once, instead).
SYSTEMCTL_NOISE = ("Could not execute systemctl", "Job for edge-alpr.service failed", "journalctl -xe")


@contextmanager
def _config_restored(box: Container) -> Iterator[None]:
    """The unit running, then what the test does to /etc/edge-alpr/config.yaml, then the config
    as it was and the unit running again whatever the test found: the tests after it share the
    container."""
    assert wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90) == "active"
    good = box.sh("cat /etc/edge-alpr/config.yaml").stdout
    try:
        yield
    finally:
        (box.rootfs / "etc" / "edge-alpr" / "config.yaml").write_text(good)
        box.sh("systemctl reset-failed edge-alpr.service; systemctl restart edge-alpr.service", check=False)
    assert wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90) == "active"


def test_an_upgrade_over_a_config_the_new_version_rejects_says_why(
        deb: Path, booted: tuple[Container, set[str], Path], tmp_path: Path) -> None:
    """A config the new version rejects (here a key it does not know): the upgrade ends
    configured, and apt's output says once what is wrong and what to do (check-config's error
    naming the file and the key, the new default to compare with, the command that re-checks
    and restarts), without deb-systemd-invoke's 'Could not execute systemctl' or systemctl's
    'Job for ... failed'.  The unit is left failed (exit 78), not restarted."""
    box, _, _ = booted
    with _config_restored(box):
        box.sh("printf '\\nnot_a_key: 1\\n' >> /etc/edge-alpr/config.yaml")
        said = _upgrade_unattended(box, deb, tmp_path, "upgrade3")
        assert said.count("edge-alpr: error: /etc/edge-alpr/config.yaml: unknown key 'not_a_key'") == 1, said[-3000:]
        assert ("edge-alpr.service will not start until /etc/edge-alpr/config.yaml is fixed (compare it with "
                "the new default: diff /etc/edge-alpr/config.yaml /usr/share/edge-alpr/config.yaml); then "
                "check it and restart: edge-alpr check-config && systemctl restart edge-alpr") in said, said[-3000:]
        assert not [noise for noise in SYSTEMCTL_NOISE if noise in said], said[-3000:]
        assert wait_for(box, "systemctl is-active edge-alpr.service", ("failed",), 60) == "failed"
        time.sleep(6)  # longer than RestartSec: a restart would have begun by now
        assert box.show("ActiveState", "ExecMainStatus", "NRestarts") == \
            {"ActiveState": "failed", "ExecMainStatus": "78", "NRestarts": "0"}


def test_an_upgrade_over_a_deleted_config_says_how_to_restore_it(
        deb: Path, booted: tuple[Container, set[str], Path], tmp_path: Path) -> None:
    """A config the admin deleted stays deleted (ucf, as dpkg does for conffiles), and the unit,
    which runs with --config /etc/edge-alpr/config.yaml, cannot start without it: the upgrade
    says so on apt's output, with the command that restores the default, and says nothing else
    of the failed start."""
    box, _, _ = booted
    with _config_restored(box):
        box.sh("rm /etc/edge-alpr/config.yaml")
        said = _upgrade_unattended(box, deb, tmp_path, "upgrade4")
        assert box.sh("test -e /etc/edge-alpr/config.yaml", check=False).returncode != 0, "the deleted file came back"
        assert ("edge-alpr: /etc/edge-alpr/config.yaml was deleted and edge-alpr.service will not start without "
                "it; to restore the default: cp /usr/share/edge-alpr/config.yaml /etc/edge-alpr/config.yaml, "
                "then: systemctl restart edge-alpr") in said, said[-3000:]
        assert not [noise for noise in SYSTEMCTL_NOISE if noise in said], said[-3000:]


def test_an_upgrade_whose_restart_fails_says_where_to_look(
        deb: Path, booted: tuple[Container, set[str], Path], tmp_path: Path) -> None:
    """A start that fails on what check-config cannot see (here the API's port, taken by
    another program): the upgrade ends configured, and apt's output says that the unit did not
    start and where its error is, without systemctl's own failure lines."""
    box, _, _ = booted
    with _config_restored(box):
        box.sh("systemd-run --unit=port-taker python3 -c 'import socket, time; s = socket.socket(); "
               "s.bind((\"127.0.0.1\", 8081)); s.listen(); time.sleep(600)'")
        box.sh("sed -i 's/^  port: 8080$/  port: 8081/' /etc/edge-alpr/config.yaml && "
               "grep -q '^  port: 8081$' /etc/edge-alpr/config.yaml")
        try:
            said = _upgrade_unattended(box, deb, tmp_path, "upgrade5")
            assert ("edge-alpr: edge-alpr.service did not start: its error: journalctl -u edge-alpr -p err -n 5; "
                    "once fixed (edge-alpr check-config checks the config): systemctl restart edge-alpr") in said, \
                said[-3000:]
            assert not [noise for noise in SYSTEMCTL_NOISE if noise in said], said[-3000:]
            assert box.show("ActiveState", "ExecMainStatus") == {"ActiveState": "failed", "ExecMainStatus": "78"}
            errors = box.sh("journalctl -u edge-alpr -p err -n 5 -o cat --no-pager").stdout
            assert "cannot listen on 127.0.0.1:8081" in errors, errors
        finally:
            box.sh("systemctl stop port-taker.service", check=False)


def test_an_upgrade_shows_check_config_s_warnings(
        deb: Path, booted: tuple[Container, set[str], Path], tmp_path: Path) -> None:
    """A config check-config passes with a warning (a camera's image folder that does not exist,
    since it may be a disk mounted later): the upgrade shows the warning on apt's output, beside
    what became of the start, instead of only "did not start".  run exits 1 until the folder is
    there and the unit starts it again, so a disk mounted after boot is found."""
    box, _, _ = booted
    with _config_restored(box):
        box.sh("sed -i -e '/^stream:/,/^  cameras:/ s/^  enabled: false /  enabled: true  /' "
               "-e 's#source: {kind: folder, path: \"\"}#source: {kind: folder, path: /srv/no-such-folder}#' "
               "/etc/edge-alpr/config.yaml && grep -q 'path: /srv/no-such-folder' /etc/edge-alpr/config.yaml")
        try:
            said = _upgrade_unattended(box, deb, tmp_path, "upgrade6")
            warning = ("edge-alpr: warning: camera sample: image folder '/srv/no-such-folder' does not exist; "
                       "create it (mkdir -p /srv/no-such-folder) or correct the camera's source.path "
                       "(edge-alpr run will refuse to start until this is fixed)")
            assert said.count(warning) == 1, said[-3000:]
            assert not [noise for noise in SYSTEMCTL_NOISE if noise in said], said[-3000:]
            time.sleep(7)  # longer than RestartSec: a restart has begun by now
            assert int(box.show("NRestarts")["NRestarts"]) >= 1
            errors = box.sh("journalctl -u edge-alpr -p err -n 5 -o cat --no-pager").stdout
            assert ("/etc/edge-alpr/config.yaml: camera sample: image folder '/srv/no-such-folder' does not "
                    "exist") in errors and "RequiresMountsFor=/srv/no-such-folder" in errors, errors
            box.sh("mkdir -p /srv/no-such-folder")  # the disk is mounted: the next start finds it
            assert wait_for(box, "systemctl is-active edge-alpr.service", ("active",), 60) == "active"
        finally:
            box.sh("rmdir /srv/no-such-folder", check=False)


def test_service_boots_reads_plates_and_purges(booted: tuple[Container, set[str], Path]) -> None:
    box, before, log = booted
    # Type=notify: "active" means READY=1 arrived.  It may still be starting right after boot.
    state = wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90)
    journal = box.sh("journalctl -u edge-alpr.service --no-pager -o cat | tail -n 40", check=False).stdout
    assert state == "active", f"edge-alpr.service is {state}:\n{journal}"
    props = box.show("MainPID", "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic",
                     "WatchdogUSec", "NRestarts", "Type")
    assert props["Type"] == "notify" and props["NRestarts"] == "0", props
    startup_s = (int(props["ActiveEnterTimestampMonotonic"]) - int(props["ExecMainStartTimestampMonotonic"])) / 1e6
    pid = props["MainPID"]

    # The sysusers user, in group video.
    passwd = box.sh("getent passwd edge-alpr").stdout.split(":")
    video_gid = box.sh("getent group video").stdout.split(":")[2]
    status = box.sh(f"cat /proc/{pid}/status").stdout
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M)
    groups = re.search(r"^Groups:\s*(.*)$", status, re.M)
    assert uid and uid.group(1) == passwd[2] != "0", status
    assert groups and video_gid in groups.group(1).split(), status
    assert "edge-alpr" in box.sh("id -nG edge-alpr").stdout.split() and \
        "video" in box.sh("id -nG edge-alpr").stdout.split()

    # The watchdog: systemd records each WATCHDOG=1 it receives.
    assert props["WatchdogUSec"] == "30s", props  # the unit's WatchdogSec (systemctl formats it)
    first = int(box.show("WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
    time.sleep(2.5)
    second = int(box.show("WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
    # systemd starts the watchdog clock at READY=1; a later timestamp is a WATCHDOG=1 it received.
    assert second > first and second > int(props["ActiveEnterTimestampMonotonic"]), (first, second, props)

    # POST /v1/plate-reader/ with the sample images; expected plates come from the dataset labels.
    time.sleep(2)  # let the service settle, for an idle RSS
    rss_idle = _rss_kib(box, pid)
    names = sorted(LABELS)
    answers = _read_plates(box, names)
    matched = []
    for name, answer in zip(names, answers, strict=True):
        assert answer["status"] == 201, answer
        plates = [r["plate"] for r in answer["body"]["results"]]
        if any(plate_matches(p, LABELS[name]["plates"][0]["text"]) for p in plates):
            matched.append(name)
    assert len(matched) >= len(names) - 1, f"read {matched} of {names}: {answers}"
    started = time.monotonic()
    more = _read_plates(box, [names[0]], READS)
    reads_s = time.monotonic() - started
    assert all(a["status"] == 201 for a in more)
    rss_reads = _rss_kib(box, pid)
    assert box.show("MainPID")["MainPID"] == pid, "the service restarted during the reads"

    # Unit checks on the installed system.
    verify = box.sh("systemd-analyze verify /lib/systemd/system/edge-alpr.service", check=False)
    assert verify.stderr.strip() == "", verify.stderr
    security = box.sh("systemd-analyze security edge-alpr.service --no-pager", check=False).stdout
    exposure = re.search(r"Overall exposure level for edge-alpr\.service: (\d+\.\d+)", security)
    assert exposure and float(exposure.group(1)) <= MAX_SECURITY_EXPOSURE, security[-2000:]

    # SIGTERM shutdown well inside the unit's TimeoutStopSec.
    started = time.monotonic()
    box.sh("systemctl stop edge-alpr.service")
    stop_s = time.monotonic() - started
    assert box.sh("systemctl is-active edge-alpr.service", check=False).stdout.strip() == "inactive"
    assert stop_s < 5, stop_s
    # A config error: one journal line names the key, and the unit is not restarted.
    box.sh("cp /etc/edge-alpr/config.yaml /root/config.good && echo 'colour: blue' >> /etc/edge-alpr/config.yaml")
    box.sh("systemctl start edge-alpr.service", check=False)
    time.sleep(8)  # longer than RestartSec: a restart would have begun by now
    failed = box.show("ActiveState", "NRestarts", "ExecMainStatus")
    assert failed == {"ActiveState": "failed", "NRestarts": "0", "ExecMainStatus": "78"}, failed
    journal = box.sh("journalctl -u edge-alpr.service --no-pager -n 30").stdout
    assert "unknown key 'colour'" in journal and "Traceback" not in journal, journal[-2000:]
    # what an admin looks at first: systemctl status shows the error with the file and the key
    status = box.sh("systemctl status edge-alpr.service --no-pager -l -n 10", check=False).stdout
    assert "/etc/edge-alpr/config.yaml: unknown key 'colour'" in status, status
    box.sh("mv /root/config.good /etc/edge-alpr/config.yaml && systemctl reset-failed edge-alpr.service")
    footprint = box.sh("du -sk /opt/venvs/edge-alpr").stdout.split()[0]
    assert box.sh("test -d /var/lib/edge-alpr && ls /var/lib/edge-alpr").stdout.strip(), "no state written"

    # Remove, then purge (README.Debian's policy).  The unit runs until then: prerm stops it
    # before its files go.  Remove: the program goes, what the admin and the service made stays
    # (the config as edited, the outbox, counters and history), so a reinstall goes on from it.
    box.sh("systemctl start edge-alpr.service")
    assert wait_for(box, "systemctl is-active edge-alpr.service", ("active", "failed"), 90) == "active"
    box.sh("printf '# kept on remove\\n' >> /etc/edge-alpr/config.yaml")
    config = box.sh("cat /etc/edge-alpr/config.yaml").stdout
    state = box.sh("cd /var/lib/edge-alpr && ls -d outbox.sqlite usage.sqlite history").stdout.split()
    box.sh("apt-get remove -y -qq edge-alpr", timeout=300)
    assert box.sh("systemctl is-active edge-alpr.service", check=False).stdout.strip() == "inactive"
    assert box.sh("dpkg-query -W -f='${db:Status-Abbrev}' edge-alpr").stdout.strip() == "rc"
    for path in ("/opt/venvs/edge-alpr", "/usr/bin/edge-alpr", "/lib/systemd/system/edge-alpr.service"):
        assert box.sh(f"test -e {path}", check=False).returncode != 0, f"{path} left after remove"
    assert box.sh("cat /etc/edge-alpr/config.yaml").stdout == config, "remove changed the config"
    kept = box.sh("cd /var/lib/edge-alpr && ls -d outbox.sqlite usage.sqlite history", check=False).stdout.split()
    assert kept == state == ["history", "outbox.sqlite", "usage.sqlite"], (state, kept)
    assert box.sh("test -d /var/cache/edge-alpr", check=False).returncode == 0, "remove deleted the cache"
    # Purge: config, state, cache go; only the system user stays.
    box.sh("apt-get purge -y -qq edge-alpr", timeout=300)
    # (a unit still running after its file went stays active)
    assert box.sh("systemctl is-active edge-alpr.service", check=False).stdout.strip() == "inactive"
    for path in ("/opt/venvs/edge-alpr", "/etc/edge-alpr", "/var/lib/edge-alpr", "/var/cache/edge-alpr",
                 "/usr/bin/edge-alpr", "/lib/systemd/system/edge-alpr.service"):
        assert box.sh(f"test -e {path}", check=False).returncode != 0, f"{path} left after purge"
    assert box.sh("getent passwd edge-alpr", check=False).returncode == 0, "the policy keeps the user"
    # The system's own daily jobs run whenever their hour comes during the test (dpkg-db-backup.timer
    # at midnight): dpkg's runs now, so what it writes is always seen, and its files, only they,
    # are left out of the tree (``deb_tree.py``): anything else in var/backups is a leftover.
    box.sh("systemctl start dpkg-db-backup.service")
    after = tree(box.rootfs)
    left = sorted(after - before)
    assert left == [], f"purge left: {left[:50]}"
    gone = sorted(before - after)
    assert gone == [], f"remove/purge deleted paths the system had: {gone[:50]}"
    print(f"\n[deb] startup to READY {startup_s:.2f} s; RSS idle {rss_idle / 1024:.0f} MiB, after "
          f"{READS} reads {rss_reads / 1024:.0f} MiB ({READS / reads_s:.1f} reads/s); stop {stop_s:.2f} s; "
          f"venv footprint {int(footprint) / 1024:.0f} MiB; security exposure {exposure.group(1)}; "
          f"plates read {len(matched)}/{len(names)}")
