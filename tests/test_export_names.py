"""An exported reader never takes a shipped model's name (``scripts/train/export_reader.py``).

Why: the loader takes the newest ``reader_v<N>`` / ``reader_ctc_v<N>`` of a folder, so an export
named like a bundled model (as ``reader_ctc_v2`` once was, fixed in the exporter) would replace
it silently when copied beside it, or be taken for it in a candidate folder.
"""

from __future__ import annotations

import re

from edge_alpr.engine.runtime import BUNDLED
from scripts.train.export_reader import KINDS, next_name


def test_each_head_is_numbered_after_every_bundled_model_of_its_kind() -> None:
    for kind in KINDS.values():
        name = next_name(kind)
        assert re.fullmatch(rf"{kind}_v\d+", name)
        shipped = [int(m.group(1)) for p in BUNDLED.glob("*.tflite")
                   if (m := re.fullmatch(rf"{kind}_v(\d+)", p.stem))]
        assert shipped, kind  # the bundled folder has one of each kind
        assert int(name.rsplit("_v", 1)[1]) > max(shipped)
