"""``models.directory``: the folder of models a config names, checked the way a camera's files are.

A folder that does not exist (yet) may be a disk mounted after boot: ``run`` and ``serve`` raise a
``ModelError`` (exit 1), the unit starts them again until it is there, and the message names the
unit's ``RequiresMountsFor=``.  A folder that is there but cannot serve (no folder, unreadable,
without the models, or a model that disagrees with its sidecar) stays so across restarts: a
``ConfigError`` (exit 78, not restarted) naming ``models.directory`` and the config file.
``check-config`` says the same as warnings: it judges the file, while the folder is the machine's
state at that moment, seen perhaps by another user than the service.

Without ``models.directory`` the bundled models load as before: a fault there is the
installation's (``ModelError``, exit 1), not the config's.

Nothing here imports the engine (nor numpy) at module level: check-config uses it and must stay
quick on a Raspberry Pi; ``load_recognizer`` imports the pipeline when it is called.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config, origin
from .errors import ConfigError, ModelError
from .model_files import BUNDLED, newest
from .models_config import ModelsConfig
from .names import user_name
from .unit_paths import mounts_advice

if TYPE_CHECKING:
    from .recognizer import Recognizer

REQUIRED = ("detector", "reader", "vehicle")  # every pipeline loads these
KEY = "models.directory"


def loaded_kinds(models: ModelsConfig) -> tuple[tuple[str, bool], ...]:
    """The models ``models`` loads, each with whether it is required: the CTC and row readers
    are required when set ``on``, loaded where present when ``auto``, never when ``off``."""
    optional = (("reader_ctc", models.reader_pair), ("reader_rows", models.row_reader))
    return (*((name, True) for name in REQUIRED),
            *((name, setting == "on") for name, setting in optional if setting != "off"))


# the fix for a models.directory that is not there, said with the systemd hint: the hint alone left
# someone running from a checkout (no service) without the way back to the bundled models
MISSING_FIX = "correct the path, or remove models.directory for the bundled models"


def folder_problem(models: ModelsConfig) -> str | None:
    """What keeps ``models.directory`` from serving, as a phrase following its name (``does not
    exist``, ``has no reader_v<N>.tflite ...``), or None where it serves or is unset (the
    bundled models).  A missing folder is told apart by ``folder_missing``."""
    if not models.directory:
        return None
    path = Path(models.directory)
    if folder_missing(path):
        return f"does not exist; {MISSING_FIX}"
    user = user_name(os.geteuid())
    try:
        is_dir = path.is_dir()
    except PermissionError as e:  # a folder above it cannot be searched
        return _unreadable(path, user, e.strerror or str(e))
    if not is_dir:
        return "is not a folder; set it to the folder of the .tflite models and their .json sidecars, " \
            "or remove it for the bundled models"
    if not os.access(path, os.R_OK | os.X_OK):
        return _unreadable(path, user, "Permission denied")
    return _contents_problem(path, models, user)


def folder_missing(path: Path) -> bool:
    """Whether ``path`` does not exist; a path whose folder above cannot be searched is there
    (unreadable, a config matter), not missing."""
    try:
        return not path.exists()
    except OSError:
        return False


def _contents_problem(path: Path, models: ModelsConfig, user: str) -> str | None:
    """The first model the folder lacks, or that this user cannot read, or whose sidecar is
    missing, not JSON or names another file (sha256); None where every model to load is fine."""
    kinds = loaded_kinds(models)
    lacking = [name for name, required in kinds if required and newest(path, name) is None]
    if lacking:
        names = ", ".join(f"{name}_v<N>.tflite" for name in lacking)
        return (f"has no {names}; copy the models with their .json sidecars there (the bundled ones are in "
                f"{BUNDLED}) or build them with `make models`, or remove {KEY} for the bundled models")
    for name, _ in kinds:
        model = newest(path, name)
        if model is None:
            continue
        sidecar = model.with_suffix(".json")
        try:
            digest = hashlib.sha256(model.read_bytes()).hexdigest()
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return f"has {model.name} but not its sidecar {sidecar.name}; copy it from where the model came from"
        except PermissionError as e:
            return _unreadable(Path(e.filename or model), user, e.strerror or str(e))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            return f"has {sidecar.name}, which cannot be read as JSON ({e}); regenerate it with `make models`"
        if not isinstance(meta, dict) or meta.get("sha256") != digest:
            listed = meta.get("sha256") if isinstance(meta, dict) else None
            return (f"has {model.name} (sha256 {digest[:12]}...), which does not match its sidecar "
                    f"{sidecar.name} ({str(listed)[:12]}...): the model or the sidecar was replaced; copy "
                    "both from one build, or rebuild them with `make models`")
    return None


def _unreadable(path: Path, user: str, why: str) -> str:
    from .stream.sources.paths import unreadable_fix

    return f"cannot be read by user {user} ({why}: {path}); " + unreadable_fix(path, user, whose="the models")


def check_models_directory(cfg: Config) -> None:
    """Raise what keeps ``cfg``'s ``models.directory`` from serving: a missing folder as a
    ``ModelError`` (exit 1: the unit retries until a late disk is mounted), any other fault as a
    ``ConfigError`` (exit 78), each naming the key and the config file.  ``run`` and ``serve``
    call it before they bind the API's address."""
    problem = folder_problem(cfg.models)
    if problem is None:
        return
    directory = cfg.models.directory
    where = f"{origin(cfg)}: {KEY} {directory!r}"
    if folder_missing(Path(directory)):
        raise ModelError(f"{where} does not exist; {MISSING_FIX}{mounts_advice(Path(directory))}")
    raise ConfigError(f"{where} {problem}")


def models_directory_warnings(cfg: Config, service_config: bool) -> list[str]:
    """check-config's warning for a ``models.directory`` that ``run`` would refuse now, or, in
    the service's config (``service_config``), that the service cannot see although this user
    can (a home folder, hidden by the unit's ``ProtectHome=yes``)."""
    from .stream.sources.paths import hidden_from_service, unreadable_fix

    directory = cfg.models.directory
    problem = folder_problem(cfg.models)
    if problem is not None:
        return [f"{KEY} {directory!r} {problem}"]
    if directory and service_config and hidden_from_service(Path(directory)):
        fix = unreadable_fix(Path(directory), "edge-alpr", {"INVOCATION_ID": "check-config"}, whose="the models")
        return [f"{KEY} {directory!r}: {fix}"]
    return []


def load_recognizer(cfg: Config) -> Recognizer:
    """The recognizer of ``cfg.models``, with ``models.directory`` checked first; a model of that
    folder the runtime refuses (a sidecar that disagrees with its interpreter, a file it cannot
    load) is a ``ConfigError`` naming the key and the config file (exit 78): no restart mends it.

    The runtime is imported before the folder's models load, so that a missing runtime (the
    installation's fault, exit 1) is not blamed on the folder."""
    from .engine.runtime import interpreter_class
    from .recognizer import Recognizer

    check_models_directory(cfg)
    directory = cfg.models.directory
    if not directory:
        return Recognizer.from_config(cfg.models)
    interpreter_class(cfg.models.runtime)
    try:
        return Recognizer.from_config(cfg.models)
    except ModelError as e:
        raise ConfigError(f"{origin(cfg)}: {KEY} {directory!r}: {e}") from e
