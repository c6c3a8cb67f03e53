"""The scripts' progress bar: redrawn in place on a terminal, sparse plain lines in a log."""

from __future__ import annotations

import io

from scripts import progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal (as stderr on a console does)."""

    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    out = Terminal()
    items = list(progress.track(range(5), "scenes", total=5, stream=out))
    assert items == [0, 1, 2, 3, 4]
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once at the close
    assert "\r" in text and "scenes: 5/5 done in" in text


def test_a_log_gets_plain_lines_and_a_final_count_without_carriage_returns() -> None:
    out = io.StringIO()
    with progress.Progress("crops", 1000, stream=out) as bar:
        for _ in range(1000):
            bar.update()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 1 and lines[0].startswith("crops: 1000/1000 done in")  # < 30 s: no interim line


def test_the_bar_shows_count_share_and_time_left() -> None:
    bar = progress.Progress("images", 40, stream=io.StringIO())
    bar.done = 10
    line = bar.line()
    assert "images [" in line and "10/40" in line and "25%" in line and "left" in line
    assert "#" * (progress.BAR_WIDTH // 4) in line and "#" * (progress.BAR_WIDTH // 4 + 1) not in line


def test_a_loop_left_early_says_how_far_it_got() -> None:
    out = io.StringIO()
    for i in progress.track(range(5), "scenes", stream=out, total=5):
        if i == 2:
            break  # items 0 and 1 done, 2 abandoned
    assert out.getvalue().splitlines()[-1].startswith("scenes: 2/5 stopped after")
