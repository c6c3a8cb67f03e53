"""``imaging.PixelBudget``: pixels held at once, and one large image decoded at a time."""

from __future__ import annotations

import io
import threading
import time

import pytest
from PIL import Image

from edge_alpr import imaging
from edge_alpr.errors import InputError

LARGE = imaging._BAND_PIXELS + 1  # the smallest image decoded in the large-image slot


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


def test_holds_within_the_limit_pass_and_one_over_it_is_503_after_the_wait() -> None:
    budget = imaging.PixelBudget(100, wait_s=0.2)
    with budget.hold(60), budget.hold(40):
        assert budget.used == 100
        started = time.monotonic()
        with pytest.raises(InputError) as e, budget.hold(1):
            pass
        assert e.value.status == 503 and "decode_budget_pixels" in str(e.value)
        assert time.monotonic() - started >= 0.2
    assert budget.used == 0


def test_a_waiting_hold_runs_once_pixels_are_given_back() -> None:
    budget = imaging.PixelBudget(100, wait_s=5.0)
    release = threading.Event()

    def holder() -> None:
        with budget.hold(80):
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    while budget.used != 80:
        time.sleep(0.01)
    threading.Timer(0.2, release.set).start()
    with budget.hold(50):
        assert budget.used == 50
    thread.join(5)


def test_a_second_large_decode_waits_for_the_first_and_small_ones_never_wait() -> None:
    budget = imaging.PixelBudget(10 * LARGE, wait_s=0.2)
    with budget.decode_slot(LARGE):
        with budget.decode_slot(imaging._BAND_PIXELS):  # a camera frame: not held up
            pass
        with pytest.raises(InputError) as e, budget.decode_slot(LARGE):
            pass
        assert e.value.status == 503 and "large image" in str(e.value)
    with budget.decode_slot(LARGE):  # given back: the next one decodes
        pass


def test_decoding_a_large_image_while_another_is_decoded_is_503_and_frees_its_pixels() -> None:
    budget = imaging.PixelBudget(10 * LARGE, wait_s=0.2)
    side = int(LARGE ** 0.5) + 1
    data = png(side, side)
    with budget.decode_slot(LARGE):
        with pytest.raises(InputError) as e, imaging.decoding(data, 10 * LARGE, budget):
            pass
        assert e.value.status == 503
        assert budget.used == 0
    with imaging.decoding(data, 10 * LARGE, budget) as pixels:
        assert pixels.shape == (side, side, 3) and tuple(pixels[0, 0]) == (10, 20, 30)
        assert budget.used == side * side
    assert budget.used == 0
