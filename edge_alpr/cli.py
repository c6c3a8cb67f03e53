"""The ``edge-alpr`` command: ``serve``, ``run``, ``read``, ``check-config``, ``regions`` and ``--version``.

Each subcommand loads the config the same way (``--config FILE``, else
``/etc/edge-alpr/config.yaml`` when present, else the embedded defaults), so what works on a
laptop works on the device.  Errors the user can fix are printed as one line: a bad config
exits ``EXIT_CONFIG`` (78, sysexits' EX_CONFIG) so that systemd does not restart a service that
cannot start until the file is fixed (``RestartPreventExitStatus=78`` in the unit), any other
error exits 1 (a camera or broker may come back, another edge-alpr holding the state folder may
stop: a restart can help), a state folder too full to open its files at a start exits 75
(EX_TEMPFAIL, restarted: ``state_room.py``); bad arguments exit 2; Ctrl-C exits 130; a reader of
stdout that stops early (``edge-alpr read *.jpg | head -1``) ends the command quietly with 141
(``entry.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from .cli_args import build_parser, parse
from .config import Config, load
from .credentials import HidingFormatter, hide_credentials
from .entry import say, stdout_gone
from .errors import ConfigError, DiskFull, EdgeAlprError
from .startup import config_line, with_address
from .systemd import JournalFormatter, is_journal, with_priority

log = logging.getLogger("edge_alpr")
EXIT_CONFIG = 78  # sysexits.h EX_CONFIG: the unit's RestartPreventExitStatus
# the commands that write the state folder, and so lock it for their life (one process at a time);
# read and check-config never open it, and keep working beside a running service
STATE_COMMANDS = ("serve", "run")

def _cmd_read(args: argparse.Namespace, cfg: Config) -> int:
    from . import image_files, imaging
    from .engine.regions import validate_regions
    from .engine.runtime import native_info_logged
    from .models_folder import load_recognizer
    from .recognizer import RecognizeOptions

    options = RecognizeOptions.from_request_config({"mode": args.mode},
                                                   validate_regions(args.regions))
    # a file read cannot read is named before the models load (seconds on a Pi), and skipped
    largest = imaging.largest_file(cfg.api.max_pixels)
    problems = {name: why for name in args.images if (why := image_files.problem(name, largest))}
    for name, why in problems.items():
        say(f"{name}: error: {why}")
    names = [name for name in args.images if name not in problems]
    if not names:
        return 1
    with native_info_logged():
        recognizer = load_recognizer(cfg)
    status = 1 if problems else 0
    for name in names:
        try:
            data = Path(name).read_bytes()
            started = time.perf_counter()
            results = recognizer.recognize(imaging.decode(data, cfg.api.max_pixels, origin=imaging.FILE), options)
            elapsed = (time.perf_counter() - started) * 1000.0
        except (OSError, EdgeAlprError) as e:
            why = image_files.os_error_text(e, name) if isinstance(e, OSError) else str(e)
            say(f"{name}: error: {why}")
            status = 1
            continue
        if args.json:
            print(json.dumps({"filename": name, "processing_time": round(elapsed, 3),
                              "results": [r.to_dict() for r in results]}))
            continue
        if not results:
            print(f"{name}: no plate found ({elapsed:.0f} ms)")
        for r in results:
            d = r.to_dict()
            print(f"{name}: {d['plate']}  score {d['score']}  region {r.read.region}  "
                  f"vehicle {r.vehicle.type}  box {box_text(r.box.to_dict())}  ({elapsed:.0f} ms)")
    return status


def _cmd_state(command: str, cfg: Config) -> int:
    """``serve`` or ``run``, once this process holds the state folder (``state_lock.py``)."""
    if command == "serve":
        from .api.server import serve

        return serve(cfg)
    from .service import main as service_main  # the camera service, imported lazily

    return int(service_main(cfg) or 0)


def _log_level(args: argparse.Namespace, configured: str) -> str:
    """``read`` prints its result for a person: its log says warnings and errors only, unless
    ``-v`` or the config's ``log_level: DEBUG`` asks for more; the other commands log as set."""
    if args.command != "read" or args.verbose or logging.getLevelName(configured) <= logging.DEBUG:
        return configured
    return logging.getLevelName(max(logging.getLevelName(configured), logging.WARNING))


def _log_to_stderr(level: str) -> None:
    """The log on stderr; in the journal each line carries its priority, so that
    ``journalctl -p warning`` shows warnings and errors and not every event, and no time (journald
    stamps each line); elsewhere (a terminal, a file) each line starts with its time.  Every line,
    a library's and a traceback too, has its URLs' credentials hidden (``HidingFormatter``)."""
    handler = logging.StreamHandler(sys.stderr)
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(HidingFormatter(JournalFormatter() if is_journal(sys.stderr) else plain))
    logging.basicConfig(level=level, handlers=[handler])


def _print_error(e: EdgeAlprError) -> None:
    """The error that ends the command, every line of it (a YAML syntax error spans several) at
    error priority in the journal, where ``journalctl -u edge-alpr -p err`` must show it whole; a
    URL in it (a config value quoted back: ``got 'rtsp://admin:...@cam/'``) without its credentials."""
    text = f"edge-alpr: error: {hide_credentials(str(e))}"
    say(with_priority(text, logging.ERROR) if is_journal(sys.stderr) else text)


def _full_at_start(e: DiskFull, held: bool) -> int:
    """A start that found no room for the state: said, then exit 75 (``state_room.py``); a
    SIGTERM meanwhile ends the wait at once (its own stop event: the failed start's is gone)."""
    from .lifecycle import stop_on_signals
    from .state_room import full_at_start

    _print_error(e)
    return full_at_start(e, held, stop=stop_on_signals())


def box_text(box: dict[str, int]) -> str:
    """A plate box as ``xmin,ymin-xmax,ymax`` (pixels, top-left to bottom-right): the API's
    ``box`` object in a form a person reads at a glance."""
    return f"{box['xmin']},{box['ymin']}-{box['xmax']},{box['ymax']}"


def _hold_mqtt(command: str, cfg: Config) -> AbstractContextManager[object]:
    """``run``'s MQTT client id and topics on its broker, for this process (``mqtt_claim.py``)."""
    if command != "run" or not cfg.mqtt.enabled:
        return nullcontext()
    from .config import DEFAULTS
    from .delivery.mqtt_claim import hold

    return hold(cfg.mqtt, "" if cfg.source == DEFAULTS else cfg.source)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    if args.command == "regions":  # no config: the list is the reference's
        from .engine.region_codes import listing

        print(listing())
        return 0
    try:
        cfg = load(args.config)
        _log_to_stderr(_log_level(args, cfg.log_level))
        if args.command in STATE_COMMANDS:
            cfg = with_address(cfg, args.command, args.host, args.port)
            log.info("%s", config_line(cfg, args.config))
            from .state_lock import hold_state

            # first: a second process on this state_dir (or, for run, on this MQTT identity)
            # stops before a camera, a model or the port
            with hold_state(cfg), _hold_mqtt(args.command, cfg):
                try:
                    return _cmd_state(args.command, cfg)
                except DiskFull as e:  # the lock still held: the reserve may be freed
                    return _full_at_start(e, held=True)
        if args.command == "check-config":
            from .configcheck import check

            return check(cfg)
        return _cmd_read(args, cfg)
    except DiskFull as e:  # no room for the state folder or its lock file
        return _full_at_start(e, held=False)
    except ConfigError as e:
        _print_error(e)
        return EXIT_CONFIG
    except EdgeAlprError as e:
        _print_error(e)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug: its traceback once, at error priority in the journal (systemd restarts us)
        if isinstance(e, BrokenPipeError) and args.command not in STATE_COMMANDS and stdout_gone():
            raise  # stdout's reader stopped (edge-alpr read *.jpg | head -1): entry.main ends quietly
        if not logging.getLogger().handlers:
            _log_to_stderr("ERROR")
        log.exception("edge-alpr stopped on an unexpected error; please report it with this traceback")
        return 1
