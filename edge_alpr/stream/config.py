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

from ..configutil import S, Section, check_keys, parse_section, rules, setting, typed
from ..credentials import hide_credentials
from ..errors import ConfigError
from ..models_config import MODES

# each kind with what it reads and its key: an RTSP camera is "opencv", which a user cannot guess
SOURCE_KINDS = {"video": "a video file: path", "folder": "images in a folder: path",
                "opencv": "an rtsp:// or http:// stream: url, a USB camera: device or device_path",
                "picamera2": "a Raspberry Pi camera"}


class _Source(Section):
    """A camera source's section: its mapping also holds the ``kind`` that chose it."""

    @classmethod
    def from_dict(cls: type[S], obj: Any, where: str) -> S:
        return parse_section(cls, obj, where, ignore=frozenset({"kind"}))


@dataclass(frozen=True)
class VideoSourceConfig(_Source):
    """A video file read with OpenCV; ``realtime`` paces frames at the file's fps."""

    path: str = field(metadata=rules(nonempty=True))  # the video file
    loop: bool = False  # true: start again at the end; false: the camera stops there
    # true: frames come at the file's own rate, dropped when recognition lags; false: every frame
    realtime: bool = False
    # frames over this many pixels are shrunk to it, aspect kept (said once): bounds memory and CPU
    max_pixels: int = setting(20_000_000, min=64 * 64)


@dataclass(frozen=True)
class FolderSourceConfig(_Source):
    """An image folder, read in name order then watched for new files.

    An empty ``path`` means the sample images bundled with the package.
    """

    path: str = ""  # "" = the sample images bundled with edge-alpr
    poll_interval: float = setting(1.0, above=0)  # seconds between scans of the folder for new files
    # file name globs (each also upper-case) in the folder itself, not below
    patterns: tuple[str, ...] = setting(("*.jpg", "*.jpeg", "*.png", "*.bmp", "*.webp"), nonempty=True)
    interval: float = setting(0.0, min=0)  # seconds at least between two images; 0 = as fast as they are recognised
    watch: bool = True  # true: keep watching for new files; false: the camera stops once all are read
    # true: files whose events were sent are not read again after a restart (kept in the state_dir); false: all are
    # (a file is then remembered only while edge-alpr runs)
    remember: bool = True
    # days (of running time) a file read must stay out of the folder before it is forgotten: a share
    # that drops and comes back within them is not read again
    forget_after_days: float = setting(30.0, above=0)
    # files read remembered per camera at most; past it the oldest are forgotten, missing ones first
    remember_max_files: int = setting(50_000, min=1)
    # images over this many pixels are skipped, read from the header before decoding (decompression-bomb guard)
    max_pixels: int = setting(20_000_000, min=1)


@dataclass(frozen=True)
class OpenCvSourceConfig(_Source):
    """A V4L2 device (``device: 0`` or a ``device_path``), an RTSP/HTTP ``url`` or a GStreamer ``pipeline``."""

    device: int = -1  # V4L2 device number (0 = /dev/video0); -1 = none; give one of device, device_path, url, pipeline
    # a V4L2 device by a path that stays the same across replugs and reboots (ls /dev/v4l/by-id); "" = none
    device_path: str = ""
    url: str = ""  # RTSP or HTTP stream URL, read through FFmpeg; "" = none
    pipeline: str = ""  # GStreamer pipeline ending in appsink (needs OpenCV with GStreamer: python3-opencv); "" = none
    width: int = setting(0, min=0)  # frame width asked of the camera, in pixels, with height; 0 = the camera's own
    height: int = setting(0, min=0)  # frame height asked of the camera, in pixels, with width; 0 = the camera's own
    # seconds before reconnecting after a failure; doubles with each failure up to reconnect_max
    reconnect_min: float = setting(1.0, above=0)
    reconnect_max: float = setting(30.0, above=0)  # seconds: the longest wait between reconnects
    # seconds: a url's FFmpeg open and read timeout (device and pipeline have none)
    read_timeout: float = setting(10.0, above=0)
    # frames over this many pixels are shrunk to it, aspect kept (said once): bounds memory and CPU
    max_pixels: int = setting(20_000_000, min=64 * 64)

    def check(self, where: str) -> None:
        choices = (("device", self.device >= 0), ("device_path", self.device_path), ("url", self.url),
                   ("pipeline", self.pipeline))
        given = [k for k, v in choices if v]
        if len(given) != 1:
            raise ConfigError(
                f"{where}: give exactly one of device (e.g. 0 for /dev/video0), device_path "
                f"(e.g. /dev/v4l/by-id/usb-...-video-index0), url (rtsp://...) "
                f"or pipeline (GStreamer, e.g. nvarguscamerasrc ! ... ! appsink); got {given or 'none'}"
            )
        _reconnect(self.reconnect_min, self.reconnect_max, where)


@dataclass(frozen=True)
class Picamera2SourceConfig(_Source):
    """A Raspberry Pi camera through picamera2/libcamera."""

    camera_num: int = setting(0, min=0)  # libcamera camera index, 0 = the first (rpicam-hello --list-cameras)
    width: int = setting(1280, min=1)  # frame width, in pixels
    height: int = setting(720, min=1)  # frame height, in pixels
    frame_rate: float = setting(0.0, min=0)  # frames per second asked of the camera; 0 = its default
    read_timeout: float = setting(5.0, above=0)  # seconds without a frame before the camera is closed and reopened
    # seconds before reopening after a failure; doubles with each failure up to reconnect_max
    reconnect_min: float = setting(1.0, above=0)
    reconnect_max: float = setting(30.0, above=0)  # seconds: the longest wait between reopenings

    def check(self, where: str) -> None:
        _reconnect(self.reconnect_min, self.reconnect_max, where)


def _reconnect(low: float, high: float, where: str) -> None:
    if high < low:
        raise ConfigError(f"{where}.reconnect_max: must be >= reconnect_min ({low})")


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
    if not isinstance(kind, str) or kind not in SOURCE_CLASSES:
        kinds = ", ".join(f"{name} ({use})" for name, use in SOURCE_KINDS.items())
        raise ConfigError(f"{where}.kind: {kind!r} is not a source kind; use one of {kinds}")
    result: SourceConfig = SOURCE_CLASSES[kind].from_dict(obj, where)
    return result


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
    source: SourceConfig = setting(FolderSourceConfig(), parse=parse_source)
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
            raise ConfigError(f"{where}.id: {self.id!r} must be non-empty, without spaces around it "
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
        raise ConfigError(f"{where}: expected a list of cameras, got {raw!r}")
    cameras = tuple(CameraConfig.from_dict(c, f"{where}[{i}]") for i, c in enumerate(raw))
    ids = [c.id for c in cameras]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"{where}: camera id {dup[0]!r} is used twice; ids must be unique")
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


def describe_source(source: Any) -> str:
    """A camera source in a few words, with no password (an RTSP URL may carry one, an IP
    camera's HTTP URL often in its query): the console's camera table and the log show it."""
    if isinstance(source, FolderSourceConfig):
        return f"images in {source.path}" if source.path else "the bundled sample images"
    if isinstance(source, VideoSourceConfig):
        return f"video {source.path}"
    if isinstance(source, OpenCvSourceConfig):
        if source.url:
            return hide_credentials(source.url)
        return "GStreamer pipeline" if source.pipeline else source.device_path or f"/dev/video{source.device}"
    if isinstance(source, Picamera2SourceConfig):
        return f"picamera2 camera {source.camera_num}"
    return type(source).__name__
