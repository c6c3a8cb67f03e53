"""edge-alpr: on-device licence-plate recognition with a Plate Recognizer-compatible API."""

from pathlib import Path as _Path

# The source's version (setup.cfg reads it); debian/changelog's upstream version must equal it
# (debian/rules and tests/test_package_version.py check).
__version__ = "0.1.0"

# A .deb build stamps the package's full Debian version (debian/changelog, e.g. 0.1.0-2) into
# PACKAGE_VERSION beside this file: that is the version a device runs, and what /info/, MQTT,
# the console and --version report.
try:
    __version__ = (_Path(__file__).with_name("PACKAGE_VERSION").read_text(encoding="ascii").strip()
                   or __version__)
except FileNotFoundError:
    pass
