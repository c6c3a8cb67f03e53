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

from ..configutil import check_keys, typed
from ..errors import ConfigError
from .motion import MotionConfig

SOURCE_KINDS = ("video", "folder", "opencv", "picamera2")
MODES = ("default", "fast", "redaction")


@dataclass(frozen=True)
class VideoSourceConfig:
    """A video file read with OpenCV; ``realtime`` paces frames at the file's fps."""

    path: str  # the video file (required)
    loop: bool = False  # true: start again at the end; false: the camera stops there
    # true: frames come at the file's own rate, dropped when recognition lags; false: every frame
    realtime: bool = False

    @classmethod
    def from_dict(cls, obj: dict[str, Any], where: str) -> VideoSourceConfig:
        d = check_keys(obj, {"kind", "path", "loop", "realtime"}, where)
        path = typed(d, "path", str, "", where)
        if not path:
            raise ConfigError(f"{where}.path: a video source needs a file path")
        return cls(path, typed(d, "loop", bool, False, where), typed(d, "realtime", bool, False, where))


@dataclass(frozen=True)
class FolderSourceConfig:
    """An image folder, read in name order then watched for new files.

    An empty ``path`` means the sample images bundled with the package.
    """

    path: str = ""  # "" = the sample images bundled with edge-alpr
    poll_interval: float = 1.0  # seconds between scans of the folder for new files
    # file name globs (each also upper-case) in the folder itself, not below
    patterns: tuple[str, ...] = ("*.jpg", "*.jpeg", "*.png", "*.bmp", "*.webp")
    interval: float = 0.0  # seconds at least between two images; 0 = as fast as they are recognised
    watch: bool = True  # true: keep watching for new files; false: the camera stops once all are read

    @classmethod
    def from_dict(cls, obj: dict[str, Any], where: str) -> FolderSourceConfig:
        d = check_keys(obj, {"kind", "path", "poll_interval", "patterns", "interval", "watch"}, where)
        patterns = typed(d, "patterns", list, list(cls.patterns), where)
        if not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise ConfigError(f"{where}.patterns: expected a non-empty list of glob strings")
        return cls(
            path=typed(d, "path", str, "", where),
            poll_interval=_positive(d, "poll_interval", 1.0, where),
            patterns=tuple(patterns),
            interval=_non_negative(d, "interval", 0.0, where),
            watch=typed(d, "watch", bool, True, where),
        )


@dataclass(frozen=True)
class OpenCvSourceConfig:
    """A V4L2 device (``device: 0``), an RTSP/HTTP ``url`` or a GStreamer ``pipeline``."""

    device: int = -1  # V4L2 device number (0 = /dev/video0); -1 = none; give one of device, url, pipeline
    url: str = ""  # RTSP or HTTP stream URL, read through FFmpeg; "" = none
    pipeline: str = ""  # GStreamer pipeline ending in appsink (needs OpenCV with GStreamer: python3-opencv); "" = none
    width: int = 0  # frame width asked of the camera, in pixels, with height; 0 = the camera's own
    height: int = 0  # frame height asked of the camera, in pixels, with width; 0 = the camera's own
    # seconds before reconnecting after a failure; doubles with each failure up to reconnect_max
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0  # seconds: the longest wait between reconnects
    read_timeout: float = 10.0  # seconds: a url's FFmpeg open and read timeout (device and pipeline have none)

    @classmethod
    def from_dict(cls, obj: dict[str, Any], where: str) -> OpenCvSourceConfig:
        keys = {"kind", "device", "url", "pipeline", "width", "height", "reconnect_min",
                "reconnect_max", "read_timeout"}
        d = check_keys(obj, keys, where)
        cfg = cls(
            device=typed(d, "device", int, -1, where),
            url=typed(d, "url", str, "", where),
            pipeline=typed(d, "pipeline", str, "", where),
            width=_non_negative_int(d, "width", 0, where),
            height=_non_negative_int(d, "height", 0, where),
            reconnect_min=_positive(d, "reconnect_min", 1.0, where),
            reconnect_max=_positive(d, "reconnect_max", 30.0, where),
            read_timeout=_positive(d, "read_timeout", 10.0, where),
        )
        choices = (("device", cfg.device >= 0), ("url", cfg.url), ("pipeline", cfg.pipeline))
        given = [k for k, v in choices if v]
        if len(given) != 1:
            raise ConfigError(
                f"{where}: give exactly one of device (e.g. 0 for /dev/video0), url (rtsp://...) "
                f"or pipeline (GStreamer, e.g. nvarguscamerasrc ! ... ! appsink); got {given or 'none'}"
            )
        if cfg.reconnect_max < cfg.reconnect_min:
            raise ConfigError(f"{where}.reconnect_max: must be >= reconnect_min ({cfg.reconnect_min})")
        return cfg


@dataclass(frozen=True)
class Picamera2SourceConfig:
    """A Raspberry Pi camera through picamera2/libcamera."""

    camera_num: int = 0  # libcamera camera index, 0 = the first (rpicam-hello --list-cameras)
    width: int = 1280  # frame width, in pixels
    height: int = 720  # frame height, in pixels
    frame_rate: float = 0.0  # frames per second asked of the camera; 0 = its default
    read_timeout: float = 5.0  # seconds without a frame before the camera is closed and reopened
    # seconds before reopening after a failure; doubles with each failure up to reconnect_max
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0  # seconds: the longest wait between reopenings

    @classmethod
    def from_dict(cls, obj: dict[str, Any], where: str) -> Picamera2SourceConfig:
        d = check_keys(obj, {"kind", "camera_num", "width", "height", "frame_rate", "read_timeout",
                             "reconnect_min", "reconnect_max"}, where)
        width = _non_negative_int(d, "width", 1280, where)
        height = _non_negative_int(d, "height", 720, where)
        if not width or not height:
            raise ConfigError(f"{where}: width and height must be positive, got {width}x{height}")
        cfg = cls(_non_negative_int(d, "camera_num", 0, where), width, height,
                  _non_negative(d, "frame_rate", 0.0, where),
                  read_timeout=_positive(d, "read_timeout", 5.0, where),
                  reconnect_min=_positive(d, "reconnect_min", 1.0, where),
                  reconnect_max=_positive(d, "reconnect_max", 30.0, where))
        if cfg.reconnect_max < cfg.reconnect_min:
            raise ConfigError(f"{where}.reconnect_max: must be >= reconnect_min ({cfg.reconnect_min})")
        return cfg


SourceConfig = VideoSourceConfig | FolderSourceConfig | OpenCvSourceConfig | Picamera2SourceConfig
SOURCE_CLASSES: dict[str, Any] = {
    "video": VideoSourceConfig,
    "folder": FolderSourceConfig,
    "opencv": OpenCvSourceConfig,
    "picamera2": Picamera2SourceConfig,
}


def parse_source(obj: Any, where: str) -> SourceConfig:
    """Pick the backend's config class from ``kind``."""
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a mapping with a 'kind' key, got {obj!r}")
    kind = obj.get("kind")
    if kind not in SOURCE_CLASSES:
        raise ConfigError(f"{where}.kind: {kind!r} is not a source kind; "
                          f"use one of {', '.join(SOURCE_KINDS)}")
    result: SourceConfig = SOURCE_CLASSES[kind].from_dict(obj, where)
    return result


@dataclass(frozen=True)
class CameraConfig:
    """One camera: where frames come from and how many of them to look at."""

    id: str = "sample"  # the camera's name in events, topics and crop folders; unique, without / + #
    source: SourceConfig = field(default_factory=FolderSourceConfig)
    max_fps: float = 0.0  # cap on the frames recognised per second; 0 = no cap
    sample: int = 1  # recognise only every n-th frame taken from the camera (1 = each); max_fps applies too
    # polygon of >= 3 [x, y] points, fractions of width and height; outside it is blacked out; [] = the whole frame
    zone: tuple[tuple[float, float], ...] = ()
    # region codes (e.g. fr, us-ca) whose plate formats are preferred, like the API's regions
    regions: tuple[str, ...] = ()
    mode: str = "default"  # default | fast | redaction, like the API's config mode
    motion: MotionConfig = field(default_factory=MotionConfig)

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> CameraConfig:
        d = check_keys(obj, {"id", "source", "max_fps", "sample", "zone", "regions", "mode",
                             "motion"}, where)
        cam_id = typed(d, "id", str, "", where)
        if not cam_id or any(c in cam_id for c in "/+#") or cam_id.strip() != cam_id:
            raise ConfigError(f"{where}.id: {cam_id!r} must be non-empty, without spaces around it "
                              "and without / + # (it is used in MQTT topics)")
        sample = typed(d, "sample", int, 1, where)
        if sample < 1:
            raise ConfigError(f"{where}.sample: must be >= 1 (1 = every frame), got {sample}")
        mode = typed(d, "mode", str, "default", where)
        if mode not in MODES:
            raise ConfigError(f"{where}.mode: {mode!r} is not one of {', '.join(MODES)}")
        regions = typed(d, "regions", list, [], where)
        if not all(isinstance(r, str) for r in regions):
            raise ConfigError(f"{where}.regions: expected a list of region codes, got {regions!r}")
        return cls(
            id=cam_id,
            source=parse_source(d.get("source", {"kind": "folder"}), f"{where}.source"),
            max_fps=_non_negative(d, "max_fps", 0.0, where),
            sample=sample,
            zone=_parse_zone(d.get("zone"), f"{where}.zone"),
            regions=tuple(regions),
            mode=mode,
            motion=MotionConfig.from_dict(d.get("motion", {}), f"{where}.motion"),
        )


@dataclass(frozen=True)
class EventConfig:
    """Plate Recognizer Stream event semantics plus optional crop saving.

    ``max_prediction_delay``: seconds a plate is followed before its event is emitted with the
    best read.  ``memory_decay``: seconds the same plate on the same camera is suppressed after
    an event.  Crops go to ``<state dir>/crops`` (or ``crops_dir``), newest ``crops_max_files``
    kept.
    """

    max_prediction_delay: float = 6.0  # seconds a plate is followed before its event goes out with the best read
    # seconds: after its event, a plate is suppressed on that camera until unseen this long; 0 = off
    memory_decay: float = 300.0
    match_distance: int = 1  # character edits two reads may differ by and still be the same plate
    save_crops: bool = False  # true: save each event's vehicle (or plate) crop as JPEG in `<crops_dir>/<camera id>/`
    crops_dir: str = ""  # folder of the saved crops; "" = `<state_dir>/crops`
    crops_max_files: int = 500  # crops kept per camera, the newest; older ones are deleted

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> EventConfig:
        keys = {"max_prediction_delay", "memory_decay", "match_distance", "save_crops", "crops_dir",
                "crops_max_files"}
        d = check_keys(obj, keys, where)
        max_files = typed(d, "crops_max_files", int, 500, where)
        if max_files < 1:
            raise ConfigError(f"{where}.crops_max_files: must be >= 1, got {max_files}")
        return cls(
            max_prediction_delay=_non_negative(d, "max_prediction_delay", 6.0, where),
            memory_decay=_non_negative(d, "memory_decay", 300.0, where),
            match_distance=_non_negative_int(d, "match_distance", 1, where),
            save_crops=typed(d, "save_crops", bool, False, where),
            crops_dir=typed(d, "crops_dir", str, "", where),
            crops_max_files=max_files,
        )


@dataclass(frozen=True)
class StreamConfig:
    """The whole ``stream`` section: cameras and event settings."""

    enabled: bool = True  # false: edge-alpr run starts no camera (the API and deliveries still run)
    cameras: tuple[CameraConfig, ...] = (CameraConfig(),)
    events: EventConfig = EventConfig()

    @classmethod
    def from_dict(cls, obj: Any, where: str) -> StreamConfig:
        d = check_keys(obj, {"enabled", "cameras", "events"}, where)
        raw = d.get("cameras")
        if raw is None:
            cameras: tuple[CameraConfig, ...] = (CameraConfig(),)
        elif not isinstance(raw, list):
            raise ConfigError(f"{where}.cameras: expected a list of cameras, got {raw!r}")
        else:
            cameras = tuple(CameraConfig.from_dict(c, f"{where}.cameras[{i}]") for i, c in enumerate(raw))
        ids = [c.id for c in cameras]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigError(f"{where}.cameras: camera id {dup[0]!r} is used twice; ids must be unique")
        return cls(typed(d, "enabled", bool, True, where), cameras,
                   EventConfig.from_dict(d.get("events"), f"{where}.events"))


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
                          f"the frame in 0..1, got {obj!r}")
    return tuple((float(p[0]), float(p[1])) for p in obj)


def _non_negative(d: dict[str, Any], key: str, default: float, where: str) -> float:
    value = typed(d, key, float, default, where)
    if value < 0:
        raise ConfigError(f"{where}.{key}: must be >= 0, got {value}")
    return value


def _positive(d: dict[str, Any], key: str, default: float, where: str) -> float:
    value = typed(d, key, float, default, where)
    if value <= 0:
        raise ConfigError(f"{where}.{key}: must be > 0, got {value}")
    return value


def _non_negative_int(d: dict[str, Any], key: str, default: int, where: str) -> int:
    value = typed(d, key, int, default, where)
    if value < 0:
        raise ConfigError(f"{where}.{key}: must be >= 0, got {value}")
    return value
