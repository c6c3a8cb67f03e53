"""``scripts/package/binfmt.sh``: the QEMU handler a foreign-architecture build needs, registered
from what the installed qemu ships, in a binfmt_misc of the test's own.

Why tested: on trixie ``qemu-user-static`` is a transitional package whose ``qemu-user-binfmt``
ships the handler only for systemd-binfmt (``/usr/lib/binfmt.d/qemu-aarch64.conf``); the build
knew only binfmt-support's ``update-binfmts --enable``, which knows nothing of it, so where no
systemd-binfmt ran (a container, a chroot) ``make deb ARCH=arm64`` stopped with "apt-get install
qemu-user-static binfmt-support", both installed.

Each case runs the real script in a new user namespace (``unshare -U -r -m``) with binfmt_misc
mounted there: a private instance (Linux 6.7+), so nothing of the machine's handlers changes.
The handler's line is trixie's ``qemu-aarch64.conf`` as shipped, its interpreter a real program
of this machine (/bin/true) in place of the arm64 emulator this machine may not have.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "package" / "binfmt.sh"
# trixie's qemu-user 1:10.0 /usr/share/qemu/binfmt.d/qemu-aarch64.conf, the interpreter replaced
TRIXIE_CONF = (r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7"
               r"\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"
               "/bin/true:OPF\n")


def in_namespace(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` (sh) in a new user and mount namespace with binfmt_misc mounted at
    ``tmp_path/misc``; skips where this machine allows neither."""
    misc = tmp_path / "misc"
    misc.mkdir(exist_ok=True)
    if shutil.which("unshare") is None:
        pytest.skip("no unshare (util-linux)")
    probe = subprocess.run(["unshare", "-U", "-r", "-m", "sh", "-c", f"mount -t binfmt_misc none {misc}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no binfmt_misc of its own in a user namespace here (Linux 6.7+): {probe.stderr.strip()}")
    return subprocess.run(["unshare", "-U", "-r", "-m", "sh", "-c",
                           f"mount -t binfmt_misc none {misc} && {script}"],
                          capture_output=True, text=True, timeout=60)


def run_script(tmp_path: Path, confd: Path, then: str = "") -> subprocess.CompletedProcess[str]:
    """binfmt.sh qemu-aarch64 with the namespace's binfmt_misc and ``confd`` as binfmt.d, with no
    update-binfmts on PATH (trixie's qemu-user-binfmt needs no binfmt-support), then ``then``."""
    env = f"PATH=/usr/bin:/bin BINFMT_MISC={tmp_path / 'misc'} BINFMT_D={confd}"
    return in_namespace(tmp_path, f"env {env} sh {SCRIPT} qemu-aarch64; echo rc=$?; {then}")


def test_trixie_s_binfmt_d_handler_is_registered(tmp_path: Path) -> None:
    confd = tmp_path / "binfmt.d"
    confd.mkdir()
    (confd / "qemu-aarch64.conf").write_text(TRIXIE_CONF)
    out = run_script(tmp_path, confd, f"cat {tmp_path / 'misc' / 'qemu-aarch64'}")
    assert "rc=0" in out.stdout, out.stdout + out.stderr
    assert "interpreter /bin/true" in out.stdout and "flags: POF" in out.stdout, out.stdout


def test_a_handler_without_f_is_replaced_by_the_shipped_one(tmp_path: Path) -> None:
    """One registered without F (by hand, an older qemu) cannot run inside the build's chroot."""
    confd = tmp_path / "binfmt.d"
    confd.mkdir()
    (confd / "qemu-aarch64.conf").write_text(TRIXIE_CONF)
    misc = tmp_path / "misc"
    first = TRIXIE_CONF.replace(":OPF", ":P")
    script = (f"printf '%s' '{first.strip()}' > {misc / 'register'} && "
              f"env PATH=/usr/bin:/bin BINFMT_MISC={misc} BINFMT_D={confd} sh {SCRIPT} qemu-aarch64; echo rc=$?; "
              f"cat {misc / 'qemu-aarch64'}")
    result = in_namespace(tmp_path, script)
    assert "rc=0" in result.stdout and "flags: POF" in result.stdout, result.stdout + result.stderr


def test_nothing_to_register_names_the_packages(tmp_path: Path) -> None:
    out = run_script(tmp_path, tmp_path / "empty")
    assert "rc=1" in out.stdout, out.stdout
    assert "no qemu-aarch64 binfmt_misc handler with the F flag: apt-get install qemu-user-static" in out.stderr, \
        out.stderr
