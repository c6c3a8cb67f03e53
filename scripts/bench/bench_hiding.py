"""Time of ``hide_credentials`` on hostile text as it grows: linear time means 4x the text takes
about 4x the time (a pattern that backtracked took about 16x, and seconds at 4,000 characters).
Two ratios (64K/16K, 256K/64K) of the medians of this process's CPU time, the sizes taken in
turn in each round: wall time on a shared machine moved one ratio from 4 to 2.4 or 7.5 between
runs (other processes' load), CPU time measured so gives 3.9-4.1.

Why a benchmark and not a test: times depend on the machine and its load; the tests bound the
work structurally (``tests/test_credentials_work.py``), this prints the medians and their ratios.

    python -m scripts.bench.bench_hiding [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from edge_alpr.credentials import hide_credentials

SIZES = (16_384, 65_536, 262_144)  # characters: 4x and 16x an upload_url's limit, past a 64 KB header
# hostile texts of about ``n`` characters: what a client may put in an upload_url or a redirect
HOSTILE: dict[str, Callable[[int], str]] = {
    "?pas repeated": lambda n: "http://u@x" + "?pas" * (n // 4),
    "?a= repeated": lambda n: "http://x/a" + "?a=" * (n // 3),
    "one name of t?": lambda n: "http://x/a?" + "t?" * (n // 2) + "=1",
    "//a: repeated": lambda n: "//a:" * (n // 4),
    "//a:b repeated": lambda n: "//a:b" * (n // 5),
    "//a:b@[ repeated": lambda n: "rtsp://" + "//a:b@[" * (n // 7),
    "//a:b then @:111": lambda n: ("//a:b" * 50 + "@:" + "1" * 250 + "x") * (n // 503),
    "a:1/ repeated": lambda n: "http://u@x/" + "a:1/" * (n // 4),
}


def medians_ms(texts: list[str], repeat: int) -> list[float]:
    """The median CPU time of ``hide_credentials`` on each text over ``repeat`` rounds (each
    round takes every text in turn, so that a burst of load falls on all sizes), in ms."""
    times: list[list[float]] = [[] for _ in texts]
    for _ in range(repeat):
        for text, taken in zip(texts, times):
            started = time.process_time()
            hide_credentials(text)
            taken.append(time.process_time() - started)
    return [statistics.median(taken) * 1000.0 for taken in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="rounds of timings (median printed)")
    args = parser.parse_args()
    print(f"{'text':<18}" + "".join(f"{n:>12,}" for n in SIZES) + f"{'64K/16K':>10}{'256K/64K':>10}")
    for name, make in HOSTILE.items():
        medians = medians_ms([make(n) for n in SIZES], args.repeat)
        ratios = [later / earlier if earlier else float("nan") for earlier, later in zip(medians, medians[1:])]
        print(f"{name:<18}" + "".join(f"{m:>10.2f}ms" for m in medians) + "".join(f"{r:>10.1f}" for r in ratios))


if __name__ == "__main__":
    main()
