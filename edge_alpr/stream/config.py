"""Strict, I/O-free config for cameras and event tracking (the ``stream`` section).

Shape (YAML)::

    stream:
      cameras:
        - id: gate
          source: {kind: opencv, url: "rtsp://cam/stream"}   # or video / folder / picamera2
          max_fps: 5          # cap on processed frames per second (0 = no cap)
          sample: 1           # process every n-th frame that passes the cap
          zone: [[0.1, 0.2], [0.9, 0.2], [0.9, 1.0], [0.1, 1.0]]   # fractions of width/height
          regions: [es]
          mode: default
          motion: {threshold: 12, min_area: 0.002, refresh_s: 2}   # still scene: skip frames
      events:
        max_prediction_delay: 6
        memory_decay: 300
        save_crops: false
        crops_max_files: 500

The embedded default is one camera reading the bundled sample images (``folder`` with an empty
path), so ``edge-alpr run`` works on a machine without a camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..configutil import Section, check_keys, setting, typed
from ..errors import ConfigError
from ..models_config import MODES
from ..names import shown
from .source_config import FolderSourceConfig, SourceConfig, parse_source


def _parse_zone(obj: Any, where: str) -> tuple[tuple[float, float], ...]:
    if obj is None or obj == []:
        return ()
    ok = isinstance(obj, list) and len(obj) >= 3 and all(
        isinstance(p, list) and len(p) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0 for v in p)
        for p in obj
    )
    if not ok:
        raise ConfigError(f"{where}: expected a polygon of >= 3 [x, y] points with x, y fractions of "
                          f"the frame in 0..1, got {shown(obj)}")
    return tuple((float(p[0]), float(p[1])) for p in obj)


@dataclass(frozen=True)
class MotionConfig:
    """``stream.cameras[].motion``; ``threshold: 0`` turns the gate off (every frame runs)."""

    threshold: int = 12  # grey-level change of a thumbnail pixel that counts as motion
    min_area: float = 0.002  # share of the zone's thumbnail pixels that must change (more than)
    refresh_s: float = 2.0  # run recognition at least this often even when nothing moves
    thumb_factor: int = 16  # thumbnail = frame reduced by this factor (block averages)

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> MotionConfig:
        d = check_keys(obj, {"threshold", "min_area", "refresh_s", "thumb_factor"}, where)
        cfg = cls(
            threshold=typed(d, "threshold", int, cls.threshold, where),
            min_area=typed(d, "min_area", float, cls.min_area, where),
            refresh_s=typed(d, "refresh_s", float, cls.refresh_s, where),
            thumb_factor=typed(d, "thumb_factor", int, cls.thumb_factor, where),
        )
        if not 0 <= cfg.threshold <= 255:
            raise ConfigError(f"{where}.threshold: a grey-level step in 0..255 (0 = gate off), "
                              f"got {cfg.threshold}")
        if not 0 <= cfg.min_area < 1:
            raise ConfigError(f"{where}.min_area: a share of the frame in [0, 1), got {cfg.min_area}")
        if cfg.refresh_s <= 0:
            raise ConfigError(f"{where}.refresh_s: must be > 0 seconds, got {cfg.refresh_s}")
        if not 1 <= cfg.thumb_factor <= 64:
            raise ConfigError(f"{where}.thumb_factor: 1..64, got {cfg.thumb_factor}")
        return cfg


POINT = {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": 0, "maximum": 1}}
ZONE_SCHEMA = {"type": ["array", "null"], "items": POINT, "not": {"type": "array", "minItems": 1, "maxItems": 2}}


@dataclass(frozen=True)
class CameraConfig(Section):
    """One camera: where frames come from and how many of them to look at."""

    # the camera's name in events, topics and crop folders; unique, without / + #
    id: str = setting("sample", required=True)
    # where the frames come from (a camera given in a file must say; `kind: folder` without a path: the samples)
    source: SourceConfig = setting(FolderSourceConfig(), parse=parse_source, required=True)
    max_fps: float = setting(0.0, min=0)  # cap on the frames recognised per second; 0 = no cap
    # recognise only every n-th frame taken from the camera (1 = each); max_fps applies too
    sample: int = setting(1, min=1)
    # polygon of >= 3 [x, y] points, fractions of width and height; outside it is blacked out; [] = the whole frame
    zone: tuple[tuple[float, float], ...] = setting((), parse=_parse_zone, schema=ZONE_SCHEMA)
    # region codes (e.g. fr, us-ca) whose plate formats are preferred, like the API's regions
    regions: tuple[str, ...] = ()
    mode: str = setting("default", choices=MODES)  # the recognition mode, like the API's config mode
    # seconds of failing to open or read before the camera's health says failed instead of
    # reconnecting (it keeps retrying); longer for cameras that restart on a schedule
    failed_after_s: float = setting(60.0, above=0)
    # seconds frames must stay dark, bright or frozen before the health's view says so (docs/cameras.md)
    view_alert_s: float = setting(60.0, above=0)
    view_dark: int = setting(20, min=0, max=254)  # frames with 99 % at or under this grey level (0..255) are dark
    view_bright: int = setting(220, min=1, max=255)  # frames with 99 % at or over this grey level are bright
    motion: MotionConfig = field(default_factory=MotionConfig)

    def check(self, where: str) -> None:
        if not self.id or any(c in self.id for c in "/+#") or self.id.strip() != self.id:
            raise ConfigError(f"{where}.id: {shown(self.id)} must be non-empty, without spaces around it "
                              "and without / + # (it is used in MQTT topics)")
        if self.view_bright <= self.view_dark:
            raise ConfigError(f"{where}.view_bright: must be > view_dark ({self.view_dark}), got {self.view_bright}")


@dataclass(frozen=True)
class EventConfig(Section):
    """Plate Recognizer Stream event semantics plus optional crop saving.

    ``max_prediction_delay``: seconds a plate is followed before its event is emitted with the
    best read.  ``memory_decay``: seconds the same plate on the same camera is suppressed after
    an event.  ``min_score``: a plate whose best read is less likely right than this gives no
    event (a distant plate read from a few pixels scores about 0.03).  Crops go to
    ``<state dir>/crops`` (or ``crops_dir``), newest ``crops_max_files`` kept.
    """

    # seconds a plate is followed before its event goes out with the best read
    max_prediction_delay: float = setting(6.0, min=0)
    # seconds: after its event, a plate is suppressed on that camera until unseen this long; 0 = off
    memory_decay: float = setting(300.0, min=0)
    match_distance: int = setting(1, min=0)  # character edits two reads may differ by and still be the same plate
    # an event whose best read scores under this (the chance its text is exactly right) is not
    # reported; 0 = every plate followed, garbage reads of distant plates included
    min_score: float = setting(0.1, min=0, max=1)
    save_crops: bool = False  # true: save each event's vehicle (or plate) crop as JPEG in `<crops_dir>/<camera id>/`
    crops_dir: str = ""  # folder of the saved crops; "" = `<state_dir>/crops`
    crops_max_files: int = setting(500, min=1)  # crops kept per camera, the newest; older ones are deleted


def _cameras(raw: Any, where: str) -> tuple[CameraConfig, ...]:
    if raw is None:
        return (CameraConfig(),)
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of cameras, got {shown(raw)}")
    cameras = tuple(CameraConfig.from_dict(c, f"{where}[{i}]") for i, c in enumerate(raw))
    ids = [c.id for c in cameras]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"{where}: camera id {shown(dup[0])} is used twice; ids must be unique")
    return cameras


@dataclass(frozen=True)
class StreamConfig(Section):
    """The whole ``stream`` section: cameras and event settings."""

    enabled: bool = True  # false: edge-alpr run starts no camera (the API and deliveries still run)
    cameras: tuple[CameraConfig, ...] = setting((CameraConfig(),), parse=_cameras)
    events: EventConfig = EventConfig()

    @property
    def in_use(self) -> tuple[CameraConfig, ...]:
        """The cameras ``edge-alpr run`` opens: none while ``enabled`` is false."""
        return self.cameras if self.enabled else ()

    def why_none(self) -> str:
        """Why ``run`` opens no camera ("" when it opens some), in the words check-config and the
        start-up both use, so a check never reports cameras the service will not open."""
        if not self.enabled:
            return f"stream.enabled is false; {len(self.cameras)} configured"
        return "" if self.cameras else "stream.cameras lists none"
