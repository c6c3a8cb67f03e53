"""Strict, I/O-free config of a camera's ``source``: one section per backend, picked by ``kind``
(``stream/config.py`` holds the rest of the ``stream`` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..configutil import S, Section, parse_section, rules, setting
from ..credentials import hide_credentials
from ..errors import ConfigError
from ..names import shown
from ..url_reading import url_problem

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
    # file name globs (each also upper-case) in the folder itself; with a / (**/*.jpg, */*.jpg) into its
    # subfolders, hidden ones (.Trash-1000, .sync) only where a pattern names them (.sync/*.jpg)
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

    def check(self, where: str) -> None:
        """A pattern reaching out of the folder (``/srv/ftp/*.jpg``, ``../cam2/*.jpg``) matched
        nothing, said nothing (or, read by an earlier version, crashed the camera at each scan)."""
        for pattern in self.patterns:
            if pattern.startswith("/") or ".." in pattern.split("/"):
                raise ConfigError(f"{where}.patterns: {pattern!r} is not inside the folder: patterns are "
                                  f"relative to source.path; put the folder in path (path: /srv/ftp, "
                                  f"patterns: ['cam1/*.jpg'])")


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
    # an RTSP stream read this far behind the camera (decoded slower than it is sent) is opened again to
    # drop the backlog (the frames of the reopening are lost); 0 = never (the health's behind_s reports it)
    max_behind_s: float = setting(0.0, min=0)

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
        if self.url and (problem := url_problem(self.url)):
            raise ConfigError(f"{where}.url: {hide_credentials(self.url)!r} cannot be read: {problem}")
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
        raise ConfigError(f"{where}: expected a mapping with a 'kind' key, got {shown(obj)}")
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in SOURCE_CLASSES:
        kinds = ", ".join(f"{name} ({use})" for name, use in SOURCE_KINDS.items())
        raise ConfigError(f"{where}.kind: {shown(kind)} is not a source kind; use one of {kinds}")
    result: SourceConfig = SOURCE_CLASSES[kind].from_dict(obj, where)
    return result


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
