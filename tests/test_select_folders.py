"""The model folders the reader selection builds for its candidates (``select_reader.folder_for``).

Why tested: a candidate folder that silently kept a shipped reader, or lost the row reader, would
score the wrong models and choose on numbers that describe neither.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_alpr.engine.runtime import BUNDLED, model_path
from edge_alpr.recognizer import ModelsConfig, Recognizer
from scripts.eval.select_reader import folder_for


def _sha(path: Path) -> str:
    return str(json.loads(path.with_suffix(".json").read_text())["sha256"])


def test_a_pair_with_a_row_reader_is_loaded_as_given(tmp_path: Path) -> None:
    slot, ctc = model_path(None, "reader"), model_path(None, "reader_ctc")
    # the slot reader as the row reader: a real int8 reader that differs from the CTC one
    out = folder_for("cand", f"{slot}+{ctc}+rows:{slot}", tmp_path)
    rec = Recognizer.from_config(ModelsConfig(directory=str(out)))
    assert [m.sha256 for m in rec.reader.models] == [_sha(ctc), _sha(slot)]
    assert rec.rows is not None and rec.rows.model.sha256 == _sha(slot)
    # the same folder built again for a candidate without a row reader keeps no stale one: its
    # rows are read as the bundled models read them (by the bundled row reader, or none)
    again = Recognizer.from_config(ModelsConfig(directory=str(folder_for("cand", f"{slot}+{ctc}", tmp_path))))
    bundled = sorted(BUNDLED.glob("reader_rows_v*.tflite"))
    assert (again.rows.model.sha256 if again.rows else None) == (_sha(bundled[-1]) if bundled else None)


@pytest.mark.parametrize("spec", ["a+b+c", "rows:a", "a+rows:b+rows:c"])
def test_a_malformed_candidate_is_refused(tmp_path: Path, spec: str) -> None:
    with pytest.raises(SystemExit, match="at most one"):
        folder_for("bad", spec, tmp_path)
