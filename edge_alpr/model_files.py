"""Where the bundled models are and which file of a kind is the newest: names only.

Why a module of its own: the engine (``engine/runtime.py``) needs these two answers, and the
runtime-parity interpreter, which has the inference runtimes and numpy but not the service's
config stack (PyYAML), imports the engine; ``models_folder.py`` checks a config's folder and
imports the config.
"""

from __future__ import annotations

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1] / "models" / "quantized"
_INSTALLED = Path(sys.prefix) / "share" / "edge-alpr" / "models"


def bundled_folder(checkout: Path, installed: Path) -> Path:
    """A source checkout (``pip install -e``) has the models beside the package; a wheel or the
    .deb installs them as data files under the interpreter prefix.  The checkout's folder is
    chosen where it exists, even empty or unreadable to this user, so that a fault in it is
    reported there and not as models missing from a prefix folder nobody made; and where it was
    deleted in a checkout (its ``setup.cfg`` is there, the prefix folder is not), so that the
    error names the folder that ``git checkout models/quantized`` brings back."""
    if checkout.is_dir() or installed.is_dir():
        return checkout if checkout.is_dir() else installed
    return checkout if (checkout.parent.parent / "setup.cfg").is_file() else installed


BUNDLED = bundled_folder(_CHECKOUT, _INSTALLED)


def newest(base: Path, name: str) -> Path | None:
    """The newest ``<name>_v<N>.tflite`` in ``base`` (the highest N), or None.  A name whose
    version is not a number (``reader_vold.tflite``, a copy put aside) is no model of this kind."""
    found = [(int(version), p) for p in base.glob(f"{name}_v*.tflite")
             if (version := p.stem.rsplit("_v", 1)[1]).isdigit()]
    return max(found)[1] if found else None
