"""Loading int8 TFLite models with their sidecars.

ai-edge-litert (XNNPACK, ~10x faster here) is preferred; tflite-runtime is the fallback for
platforms where LiteRT has no wheel.  The loader checks the sidecar against both the file (sha256)
and the interpreter (shapes, dtypes, quantisation), because a model/sidecar mismatch would make
every read silently wrong.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..model_files import BUNDLED, newest

log = logging.getLogger(__name__)

RUNTIMES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")
INSTALL_HINT = "pip install ai-edge-litert  (or: pip install tflite-runtime 'numpy<2')"


_fallback_warned: set[str] = set()  # broken runtimes already warned of (``interpreter_class``)
_fallback_lock = threading.Lock()


def interpreter_class(prefer: str = "auto") -> tuple[type[Any], str]:
    """The Interpreter class of the first runtime that imports, and its module name.

    Only a runtime whose own module is not there is skipped as missing: an ``ImportError`` of
    another module while it loads (a numpy it was not built for, a shared library it lacks) or
    any other error of its import means it is installed but broken, which the install hint would
    not mend, so that is said with its cause.  With ``prefer="auto"`` a broken runtime is passed
    over for the next one that imports (one warning per process names the cause and the
    reinstall: the device keeps reading, more slowly); only where none imports is it an error,
    naming the broken ones' causes and the missing ones.  A runtime chosen by name is the only
    one tried.  ``KeyboardInterrupt`` (Ctrl-C while the import takes its seconds) is not an
    ``Exception`` and goes up as it came."""
    names = RUNTIMES if prefer == "auto" else tuple(n for n in RUNTIMES if n.startswith(prefer))
    if not names:
        raise ModelError(f"unknown runtime {prefer!r}; use auto, ai_edge_litert or tflite_runtime")
    missing: list[str] = []
    broken: list[tuple[str, Exception]] = []
    for name in names:
        try:
            return _fell_back(importlib.import_module(name).Interpreter, name, broken)
        except ImportError as e:
            if _is_missing(e, name):
                missing.append(f"{name}: {e}")
                continue
            failure: Exception = e
        except Exception as e:
            failure = e
        if prefer != "auto":
            raise _broken(name, failure) from failure
        broken.append((name, failure))
    if broken:
        name, failure = broken[0]
        others = [f"{n}: {_cause(e)}" for n, e in broken[1:]] + missing
        raise _broken(name, failure, others) from failure
    raise ModelError(f"no TFLite runtime could be imported ({'; '.join(missing)}); install one: {INSTALL_HINT}")


def _fell_back(cls: type[Any], name: str, broken: list[tuple[str, Exception]]) -> tuple[type[Any], str]:
    """``cls`` and ``name``, once a warning (per broken runtime and process: every model loads
    its interpreter) says which runtime before it is broken and why."""
    for module, e in broken:
        with _fallback_lock:
            if module in _fallback_warned:
                continue
            _fallback_warned.add(module)
        package = module.split(".")[0]
        log.warning("the TFLite runtime %s is installed but cannot be imported (%s): using %s instead; "
                    "reinstall it (pip install --force-reinstall %s) to use it again", package, _cause(e),
                    name.split(".")[0], package.replace("_", "-"))
    return cls, name


def _is_missing(e: ImportError, module: str) -> bool:
    """Whether ``e`` says that ``module`` itself (or a package above it) is not installed."""
    parts = module.split(".")
    own = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return isinstance(e, ModuleNotFoundError) and e.name in own


def _cause(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _broken(module: str, e: BaseException, others: list[str] | None = None) -> ModelError:
    """The error of a runtime that is installed but does not import, naming its cause (and
    ``others``: why each other runtime tried did not import either)."""
    package = module.split(".")[0]
    also = f"; nor the other runtimes ({'; '.join(others)})" if others else ""
    return ModelError(f"the TFLite runtime {package} is installed but cannot be imported "
                      f"({_cause(e)}){also}; reinstall it (pip install --force-reinstall "
                      f"{package.replace('_', '-')}) or choose the other one with models.runtime")


@contextmanager
def native_info_logged() -> Iterator[None]:
    """The runtimes' own lines on file descriptor 2 while loading, through the log: an ``INFO:``
    line (LiteRT's "Created TensorFlow Lite XNNPACK delegate for CPU.", which no setting turns
    off) at info level, any other line (a warning, an error) to stderr as it came.

    That line comes from TFLite's own C++ logger, once per process, at the first interpreter
    with the XNNPACK delegate.  Nothing public sets that logger's level: ai-edge-litert 2.3 and
    tf.lite 2.21 print it with ``TF_CPP_MIN_LOG_LEVEL=3`` as with 0 (measured; that variable is
    TensorFlow's own logging), the Interpreter has no option for it, and the setter is a C++
    symbol the wheel does not export.  So the service (``run``, ``serve``) leaves it on stderr:
    this redirection would hide the other threads' errors for as long as it lasts.

    Why: ``edge-alpr read`` prints its result for a person, who wants the plates, not the loading;
    the log level decides.  Only for a process with nothing else writing to stderr meanwhile (a
    command line, not the service): the redirection is process-wide."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.startswith("INFO: "):
                    log.info("%s", line.removeprefix("INFO: "))
                else:
                    print(line, file=sys.stderr)


@dataclass(frozen=True)
class TensorSpec:
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int


class Model:
    """One interpreter plus its sidecar; ``run`` is serialised by a lock (interpreters are not thread-safe)."""

    def __init__(self, path: Path, threads: int = 1, runtime: str = "auto", xnnpack: bool = True) -> None:
        side_path = path.with_suffix(".json")
        try:
            data = path.read_bytes()
            self.meta: dict[str, Any] = json.loads(side_path.read_text())
        except FileNotFoundError as e:
            raise ModelError(f"model file missing: {e.filename}; run `make models` or reinstall edge-alpr") from e
        except OSError as e:  # unreadable (a mode, a disk error): said, not a traceback
            raise ModelError(f"model file {e.filename or path} cannot be read ({e.strerror or e}); "
                             "give this user read access to it, or reinstall edge-alpr") from e
        except json.JSONDecodeError as e:
            raise ModelError(f"sidecar {side_path} is not valid JSON ({e}); regenerate it with `make models`") from e
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.meta.get("sha256"):
            raise ModelError(
                f"{path.name}: sha256 {digest[:12]}... does not match its sidecar "
                f"({str(self.meta.get('sha256'))[:12]}...); the model or sidecar was replaced, "
                "rebuild with `make models`"
            )
        cls, self.runtime = interpreter_class(runtime)
        # XNNPACK is several times faster but rounds int8 requantisation differently from the
        # built-in kernels, so outputs can differ by a few steps between the two kernel sets.
        kw: dict[str, Any] = {}
        if not xnnpack:
            resolver = importlib.import_module(self.runtime).OpResolverType
            kw["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self._it = cls(model_content=data, num_threads=threads, **kw)
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{path.name}: the runtime {self.runtime} cannot load it: {e}") from e
        self.name = path.stem
        self.sha256 = digest
        self.inputs = self._specs(self._it.get_input_details(), self.meta.get("inputs", []), "input")
        self.outputs = self._specs(self._it.get_output_details(), self.meta.get("outputs", []), "output")
        self._lock = threading.Lock()
        log.info("loaded model %s sha256=%s runtime=%s threads=%d xnnpack=%s", self.name, digest[:16], self.runtime,
                 threads, xnnpack)

    def _specs(self, details: list[dict[str, Any]], expected: list[dict[str, Any]], what: str) -> list[TensorSpec]:
        if len(details) != len(expected):
            raise ModelError(f"{self.name}: sidecar lists {len(expected)} {what}s, interpreter has {len(details)}")
        specs = []
        for d, e in zip(details, expected):
            scale, zp = d["quantization"]
            got = ([int(v) for v in d["shape"]], np.dtype(d["dtype"]).name, int(zp))
            want = (e["shape"], e["dtype"], e["zero_point"])
            if got != want or abs(float(scale) - e["scale"]) > 1e-9:
                raise ModelError(
                    f"{self.name}: {what} {d['name']} is {got}, sidecar says {want}; rebuild with `make models`"
                )
            specs.append(TensorSpec(d["index"], tuple(got[0]), np.dtype(d["dtype"]), float(scale), int(zp)))
        return specs

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run on uint8 inputs (batch 1); returns dequantised float32 outputs in sidecar order."""
        with self._lock:
            for spec, arr in zip(self.inputs, inputs):
                self._it.set_tensor(spec.index, arr.reshape(spec.shape).astype(spec.dtype, copy=False))
            self._it.invoke()
            return [(self._it.get_tensor(s.index).astype(np.float32) - s.zero_point) * s.scale for s in self.outputs]

    def output_by_shape(self, outs: list[np.ndarray], last_dim: int) -> np.ndarray:
        """Pick an output by its last dimension (converters may reorder outputs)."""
        for o in outs:
            if o.shape[-1] == last_dim:
                return o
        raise ModelError(f"{self.name}: no output with last dimension {last_dim}")

    def describe(self) -> dict[str, Any]:
        """Name, version and hash for logs and ``/info/``."""
        return {
            "name": self.meta.get("name"),
            "version": self.meta.get("version"),
            "file": self.name + ".tflite",
            "sha256": self.sha256,
            "runtime": self.runtime,
        }


def model_path(directory: str | Path | None, name: str) -> Path:
    """Newest ``<name>_v<N>.tflite`` in ``directory`` (default: the bundled models)."""
    base = Path(directory) if directory else BUNDLED
    found = newest(base, name)
    if found is None:
        if base.is_dir() and not os.access(base, os.R_OK | os.X_OK):
            raise ModelError(f"the models folder {base} cannot be read (Permission denied); give this "
                             "user read access to it (chmod a+rx), or reinstall edge-alpr")
        fix = "reinstall edge-alpr (in a source checkout: git checkout models/quantized)" if not directory \
            else "copy the models with their .json sidecars there, or remove models.directory"
        raise ModelError(f"no {name}_v<N>.tflite in {base}; {fix} (`make models` rebuilds them, in hours)")
    return found
