"""Fetch an image from ``upload_url`` (IP-camera snapshot URLs), bounded in size and time.

Off unless ``api.upload_url.enabled``: a server that fetches URLs for its callers can be used to
probe the network it sits in, so the owner must opt in.  Only http/https; the whole fetch
(connect, headers, body) must finish within ``timeout_s`` and stay within ``max_bytes``.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from ..config import UploadUrlConfig
from ..errors import InputError

_CHUNK = 64 * 1024


def fetch_image(url: str, cfg: UploadUrlConfig) -> bytes:
    """Return the body at ``url`` or raise ``InputError`` (400, or 413 when too large)."""
    if not cfg.enabled:
        raise InputError("upload_url is disabled on this server; send the image as upload, or "
                         "enable api.upload_url.enabled in the config")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"upload_url {url!r} must be an http:// or https:// URL")
    deadline = time.monotonic() + cfg.timeout_s
    request = urllib.request.Request(url, headers={"User-Agent": "edge-alpr"})
    try:
        with urllib.request.urlopen(request, timeout=cfg.timeout_s) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > cfg.max_bytes:
                raise InputError(f"upload_url body is {declared} bytes; the limit is "
                                 f"{cfg.max_bytes} (api.upload_url.max_bytes)", status=413)
            chunks, size = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise InputError(f"upload_url took longer than {cfg.timeout_s} s "
                                     "(api.upload_url.timeout_s)")
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > cfg.max_bytes:
                    raise InputError(f"upload_url body is over {cfg.max_bytes} bytes "
                                     "(api.upload_url.max_bytes)", status=413)
                chunks.append(chunk)
    except urllib.error.HTTPError as e:
        raise InputError(f"upload_url answered HTTP {e.code}; check the URL") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise InputError(f"upload_url could not be fetched: {e}") from e
    return b"".join(chunks)
