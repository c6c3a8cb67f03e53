"""Client JSON nested deeper than any request needs is a 400 naming the field on every Python
(3.13 parses ~10000 levels where 3.11 stopped near 1000), and a bad value is echoed cut short."""

from __future__ import annotations

import pytest

from edge_alpr import json_input
from edge_alpr.errors import InputError
from edge_alpr.recognizer import RecognizeOptions
from edge_alpr.watchlists_config import parse_list


@pytest.mark.parametrize("text", ["[" * 200 + "]" * 200, '{"a":' * 200 + "1" + "}" * 200,
                                  '{"mode": ' + "[" * 40 + "]" * 40 + "}"],
                         ids=["arrays", "objects", "a config value"])
def test_nesting_under_pythons_recursion_limit_is_still_too_deep(text: str) -> None:
    """Depths that parse without RecursionError on any Python are refused just the same."""
    with pytest.raises(InputError, match="config is nested too deeply"):
        json_input.loads(text, "config")
    with pytest.raises(InputError, match="nested too deeply"):
        RecognizeOptions.from_request_config(text)


def test_nesting_past_the_recursion_limit_and_flat_bodies() -> None:
    with pytest.raises(InputError, match="the body is nested too deeply"):
        json_input.loads("[" * 50000 + "]" * 50000, "the body")
    body = '{"plates": [{"plate": "AB123CD", "label": "van"}], "max_distance": 1}'
    assert json_input.loads(body, "the body")["plates"][0]["plate"] == "AB123CD"
    wide = "[" + ",".join(["[1, 2]"] * 10000) + "]"
    assert len(json_input.loads(wide, "the body")) == 10000


def test_a_bad_value_is_named_without_echoing_all_of_it() -> None:
    with pytest.raises(InputError) as caught:
        RecognizeOptions.from_request_config({"threshold_d": "9" * 100000})
    said = str(caught.value)
    assert "threshold_d" in said and "'9999" in said and len(said) < 200, said
    with pytest.raises(InputError) as caught:
        RecognizeOptions.from_request_config({"mode": ["x"] * 100000})
    assert len(str(caught.value)) < 200
    with pytest.raises(ValueError) as bad:
        parse_list("vans", {"max_distance": "x" * 100000, "plates": []}, "watch list vans", "api")
    assert "max_distance" in str(bad.value) and len(str(bad.value)) < 200


@pytest.mark.parametrize("name", ["vans\n", "vans\n\n", "", "a" * 33, "a b"])
def test_a_watch_list_name_with_a_newline_or_a_space_is_refused(name: str) -> None:
    """A name is a topic level, an id and a file's key: ``vans\\n`` passed the pattern's ``$``."""
    with pytest.raises(ValueError, match="list name"):
        parse_list(name, {"plates": []}, "watch list", "api")
