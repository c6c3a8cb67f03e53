"""What the ``edge-alpr`` command line accepts, and the help it prints (``cli.py`` runs it).

The examples here are what a person copies first, so they are kept apart from the code that acts
on the arguments: ``RUN_EXAMPLE`` is loaded by a test as ``run --help`` shows it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .config import DEFAULT_PATH
from .credentials import MAKE_TOKEN

_EPILOG = f"""\
examples:
  edge-alpr serve                                # API on http://127.0.0.1:8080/
  export EDGE_ALPR_API_TOKEN="$({MAKE_TOKEN})"
  edge-alpr serve --host 0.0.0.0 --port 8080
  curl -F upload=@car.jpg -F regions=gb -H "Authorization: Token $EDGE_ALPR_API_TOKEN" \\
       http://127.0.0.1:8080/v1/plate-reader/
  edge-alpr run                                  # cameras + API + MQTT/webhooks (the main job)
  edge-alpr read car.jpg --regions gb --json     # read plates from files, no server
  edge-alpr --version

config: --config FILE, else {DEFAULT_PATH} if it exists, else built-in defaults.
secrets: EDGE_ALPR_API_TOKEN and EDGE_ALPR_MQTT_PASSWORD, or systemd credentials
         api_token and mqtt_password ($CREDENTIALS_DIRECTORY).
"""


# a config of one's own, as run --help shows it (a test checks that it loads)
RUN_EXAMPLE = """\
state_dir: /srv/edge-alpr/state
stream:
  cameras:
    - id: gate
      source: {kind: opencv, url: "rtsp://user:pass@192.168.1.20:554/stream1"}
      regions: [gb]
    - id: inbox
      source: {kind: folder, path: /srv/edge-alpr/incoming}   # new images as they arrive
    - id: clip
      source: {kind: video, path: /srv/edge-alpr/clip.mp4}
mqtt: {host: 192.168.1.5, port: 1883}
"""
RUN_EPILOG = f"""\
examples:
  edge-alpr run                                   # the sample images as a camera
  edge-alpr run --config my.yaml                  # check it first: edge-alpr check-config --config my.yaml
  edge-alpr run --port 8081                       # the API elsewhere than api.host/api.port (also --host)

my.yaml, with cameras and a broker (every key is optional: docs/config.md in the source,
/usr/share/edge-alpr/config.yaml commented in the .deb, or man edge-alpr):
{textwrap.indent(RUN_EXAMPLE, "  ")}"""


def port_number(text: str) -> int:
    """``--port``: a TCP port, 0-65535 (0: any free port), else a usage error (exit 2) naming it."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port: use 1-65535 (0 = any free port)")
    return port


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help=f"YAML config (default: {DEFAULT_PATH} "
                   "if present, else built-in defaults)")


def _address_args(p: argparse.ArgumentParser) -> None:
    """serve's and run's: over the config's."""
    p.add_argument("--host", help="address to listen on (default: the config's api.host, 127.0.0.1)")
    p.add_argument("--port", type=port_number, help="TCP port (default: the config's api.port, 8080)")


def _add_serve_and_run(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="run only the HTTP API", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the HTTP API: POST /v1/plate-reader/, GET /info/ and GET /v1/statistics/ (as the "
                    "Plate Recognizer SDK), the console at /, /v1/events/, /v1/watchlists/ and /metrics.",
        epilog="examples:\n  edge-alpr serve --port 8080\n"
               f"  EDGE_ALPR_API_TOKEN=\"$({MAKE_TOKEN})\" edge-alpr serve --host 0.0.0.0\n"
               "Binding to a non-loopback address requires a token: 16 or more random characters.")
    _address_args(serve)
    _config_arg(serve)

    run = sub.add_parser(
        "run", help="the main job: cameras, API, MQTT and webhooks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read plates from the configured cameras (by default the bundled sample "
                    "images) and deliver events; also serves the API when api.enabled.",
        epilog=RUN_EPILOG)
    _address_args(run)
    _config_arg(run)


# a picture to try read on where one has none: a bundled sample, where this install keeps it
# (edge_alpr/samples in a checkout, the venv's site-packages in the .deb)
SAMPLE = Path(__file__).resolve().parent / "samples" / "01_romanian_t37.jpg"


def _add_read(sub: Any) -> None:
    read = sub.add_parser(
        "read", help="read plates in image files and print them",
        usage="%(prog)s [-h] [--regions CODE [CODE ...]] [--json] [-v]\n"
              "                      [--mode {default,fast,redaction}] [--config FILE]\n"
              "                      IMAGE [IMAGE ...]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the recognizer on files, without a server.",
        epilog="examples:\n  edge-alpr read car.jpg\n"
               "  edge-alpr read *.jpg --regions es --mode fast --json\n"
               f"  edge-alpr read {shlex.quote(str(SAMPLE))}   # a bundled sample: b144mos")
    # "*", not "+": `read --regions gb car.jpg` gives --regions both words, and regions_then_images
    # takes the file back (with "+", argparse said IMAGE was missing, though it was given)
    read.add_argument("images", nargs="*", metavar="IMAGE", help="JPEG, PNG, BMP or WebP file")
    # extend: `--regions gb --regions ro` is both (the second replaced the first)
    read.add_argument("--regions", nargs="+", action="extend", default=[], metavar="CODE",
                      help="region codes that guide the reading, e.g. gb us-ca")
    read.add_argument("--mode", choices=("default", "fast", "redaction"), default="default",
                      help="as the API's config mode: fast = one detection pass, one read a plate "
                           "(about 3x quicker, finds fewer small plates); redaction = tiled, lower "
                           "threshold (misses fewest plates); default: %(default)s")
    read.add_argument("--json", action="store_true", help="print one JSON object per image")
    read.add_argument("-v", "--verbose", action="store_true",
                      help="also log the model loading (shown anyway with log_level: DEBUG); "
                           "warnings and errors are always shown")
    _config_arg(read)
    read.set_defaults(read_parser=read)  # for regions_then_images's usage error


def build_parser() -> argparse.ArgumentParser:
    """The ``edge-alpr`` command line: its subcommands, their options and their help."""
    parser = argparse.ArgumentParser(
        prog="edge-alpr", description="On-device licence-plate recognition with a Plate "
        "Recognizer-compatible HTTP API.", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"edge-alpr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve_and_run(sub)
    _add_read(sub)
    check = sub.add_parser(
        "check-config", help="check the config file and exit (0 = fine, 78 = an error named on stderr)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Load and validate the config as run would (keys, values, camera regions), "
                    "without opening cameras or networks.",
        epilog="example:\n  edge-alpr check-config --config /etc/edge-alpr/config.yaml")
    _config_arg(check)
    sub.add_parser("regions", help="list the valid region codes (--regions, the API's regions)",
                   description="The region codes that read --regions, the API's regions and a camera's regions take.")
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``sys.argv`` where ``argv`` is None), as ``cli.main`` acts on it.

    ``read``'s words are parsed again by its own parser, intermixed: its files may come before,
    between and after its options (``edge-alpr read car.jpg --json b.jpg`` reads both; argparse
    alone takes the positionals of a subcommand in one run and said "unrecognized arguments:
    b.jpg"), and the files ``--regions`` took are given back (``regions_then_images``)."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(words)
    if args.command != "read":
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return args
    # the top level's only options (-h, --version) exit: the first "read" is the command
    read_words = words[words.index("read") + 1:]
    # the words after the first "--" are files, whatever they start with (read -- -x.jpg, read --
    # *.jpg): split here, as Python 3.11's parse_intermixed_args drops a "--" before the first
    # positional and then said "unrecognized arguments" for every file after it
    options, files = split_at_dashes(read_words)
    args = args.read_parser.parse_intermixed_args(options)
    args.command = "read"
    regions_then_images(args, options, files)
    return args


def split_at_dashes(words: list[str]) -> tuple[list[str], list[str]]:
    """``words`` before the first ``--`` (options and files) and after it (files only)."""
    if "--" not in words:
        return words, []
    cut = words.index("--")
    return words[:cut], words[cut + 1:]


def regions_then_images(args: argparse.Namespace, words: list[str], files: Sequence[str] = ()) -> None:
    """``read``'s files given after ``--regions`` (``edge-alpr read --regions gb car.jpg``), which
    takes every word up to the next option, back to the images, in the order of ``words`` (the
    command line).  A word that is a region code stays a region, even where a file of that name
    is in the current folder (``gb``); any other word with a ``.`` or ``/``, or naming something
    on disk (a folder too: read says what to give instead), is an image.  No image at all is a
    usage error (exit 2) naming the words that are neither a region code nor a file, if any.
    ``files`` (the words after ``--``) are images, after those of ``words``."""
    from .engine.region_codes import ALL_REGIONS, normalise

    def is_image(word: str) -> bool:
        return normalise(word) not in ALL_REGIONS and ("." in word or "/" in word or os.path.lexists(word))

    images = [*args.images, *(word for word in args.regions if is_image(word))]
    args.regions = [word for word in args.regions if not is_image(word)]
    args.images = [*in_order(images, words), *files]
    if args.images:
        return
    neither = [word for word in args.regions if normalise(word) not in ALL_REGIONS]
    if neither:
        names = ", ".join(repr(word) for word in neither)
        what = "is neither a region code nor a file" if len(neither) == 1 else "are neither region codes nor files"
        args.read_parser.error(f"{names} {what} (edge-alpr regions lists the codes)")
    args.read_parser.error("the following arguments are required: IMAGE")


def in_order(chosen: list[str], words: list[str]) -> list[str]:
    """``chosen`` in the order of ``words`` (a word given twice, twice): each is a word of
    ``words`` or the value of an ``--option=value`` word (``read --regions=c.jpg d.jpg`` reads
    both); one found in neither way comes last, never dropped."""
    left = Counter(chosen)
    ordered = []
    for word in words:
        value = word.partition("=")[2] if word.startswith("--") else ""
        for candidate in (word, value) if value else (word,):
            if left[candidate] > 0:
                ordered.append(candidate)
                left[candidate] -= 1
                break
    return [*ordered, *left.elements()]
