"""Time of ``hide_credentials`` on hostile text as it grows: linear time means 4x the text takes
about 4x the time (a pattern that backtracked took about 16x, and seconds at 4,000 characters).

Why a benchmark and not a test: times depend on the machine and its load; the tests bound the
work structurally (``tests/test_credentials.py``), this prints the medians and their ratios.

    python -m scripts.bench.bench_hiding [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from edge_alpr.credentials import hide_credentials

SIZES = (4_096, 16_384, 65_536)  # characters: an upload_url's limit, and the 64 KB of a header
# hostile texts of about ``n`` characters: what a client may put in an upload_url or a redirect
HOSTILE: dict[str, Callable[[int], str]] = {
    "?pas repeated": lambda n: "http://u@x" + "?pas" * (n // 4),
    "?a= repeated": lambda n: "http://x/a" + "?a=" * (n // 3),
    "one name of t?": lambda n: "http://x/a?" + "t?" * (n // 2) + "=1",
    "//a: repeated": lambda n: "//a:" * (n // 4),
    "//a:b@[ repeated": lambda n: "rtsp://" + "//a:b@[" * (n // 7),
}


def median_ms(text: str, repeat: int) -> float:
    """The median of ``repeat`` timings of ``hide_credentials(text)``, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        hide_credentials(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="timings per text (median printed)")
    args = parser.parse_args()
    print(f"{'text':<18}" + "".join(f"{n:>12,}" for n in SIZES) + f"{'64K/16K':>10}")
    for name, make in HOSTILE.items():
        medians = [median_ms(make(n), args.repeat) for n in SIZES]
        ratio = medians[-1] / medians[-2] if medians[-2] else float("nan")
        print(f"{name:<18}" + "".join(f"{m:>10.2f}ms" for m in medians) + f"{ratio:>10.1f}")


if __name__ == "__main__":
    main()
