"""Why a delivery failed: one classification of the network's errors, and the few words an
operator reads at a glance.

Why one: the MQTT connection (``mqtt_connect.why_failed``: the reason and the fix, in the log)
and each sink's worker (``worker.py``: the sentence the console and ``/info/`` show) meet the
same errors (a name that does not resolve, a refused connection, a timeout, TLS, an HTTP
status), so each is told apart once, here.  ``kind`` sorts an error; ``sentence`` says it
(``connection refused by 127.0.0.1:9``, ``timed out after 10 s``, ``HTTP 500 from the
server``); the exact error (``detail``) stays beside it for whoever needs the repr.  Every
text passes ``hide_credentials``: a URL in an error keeps its host, never its token.
"""

from __future__ import annotations

import email.utils
import errno
import http.client
import math
import socket
import ssl
import time
import urllib.error

from ..credentials import hide_credentials
from ..errors import EdgeAlprError

NAME, REFUSED, TIMEOUT, UNREACHABLE, CLOSED = "name", "refused", "timeout", "unreachable", "closed"
TLS_NAME, TLS_TRUST, TLS, HTTP, OTHER = "tls-name", "tls-trust", "tls", "http", "other"
TLS_TIME = "tls-time"  # a certificate outside its dates by this device's clock
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH: a certificate for another name
_MISNAMED = (62, 64)
# X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED: judged by the clock, which on a
# device without a real-time clock is 1970 or days behind until time sync sets it
NOT_YET_VALID, EXPIRED = 9, 10


def cause(error: BaseException) -> BaseException:
    """The error that says what went wrong: the socket's own error that ``urlopen`` wraps in a
    ``URLError`` (``<urlopen error [Errno 111] Connection refused>``), else ``error``."""
    while (isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError)
           and isinstance(error.reason, BaseException)):
        error = error.reason
    return error


def kind(error: BaseException | None, tls: bool = False) -> str:
    """Which failure ``error`` is (one of the constants above); ``tls``: the connection speaks
    TLS, so a reset at the handshake is a TLS failure (a plain listener resets a TLS hello)."""
    error = cause(error) if error is not None else None
    if isinstance(error, urllib.error.HTTPError):
        return HTTP
    if isinstance(error, socket.gaierror):
        return NAME
    if isinstance(error, ConnectionRefusedError):
        return REFUSED
    if isinstance(error, ssl.SSLCertVerificationError):
        if error.verify_code in (NOT_YET_VALID, EXPIRED):
            return TLS_TIME
        return TLS_NAME if error.verify_code in _MISNAMED else TLS_TRUST
    if isinstance(error, ssl.SSLError) or (tls and isinstance(error, ConnectionResetError)):
        return TLS
    if isinstance(error, TimeoutError):
        return TIMEOUT
    if isinstance(error, OSError) and error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return UNREACHABLE
    if isinstance(error, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                          http.client.RemoteDisconnected)):
        return CLOSED
    return OTHER


def detail(error: BaseException) -> str:
    """The exact error (its type and message), credentials hidden: for logs and hover text."""
    return hide_credentials(f"{type(error).__name__}: {error}")


def out_of_dates(error: ssl.SSLCertVerificationError) -> str:
    """A certificate that ``kind`` calls ``TLS_TIME``, in words that send the operator to the
    clock first: ``not valid yet by this device's clock (1970-01-01 00:02 UTC)`` or ``expired by
    ...``.  Why: "certificate is not yet valid" from a server whose certificate is fine reads as
    the server's fault, when the device booted without network time."""
    state = "not valid yet" if error.verify_code == NOT_YET_VALID else "expired"
    return f"{state} by this device's clock ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"


CLOCK_FIX = "check the clock (timedatectl; time sync sets it once the network is up)"


def where(host: str, port: int | None) -> str:
    """``host:port`` (``[::1]:80`` for an IPv6 address); ``host`` alone without a port."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


def sentence(error: BaseException, host: str = "", port: int | None = None,
             timeout_s: float | None = None) -> str:
    """``error`` in a few words for an operator: where it went wrong (``host``, ``port``: the
    peer) and how.  edge-alpr's own errors (``MqttError``'s "not connected to broker ...") are
    written to be read and are said as they are; an error none of ``kind`` knows is its
    ``detail``."""
    if isinstance(error, EdgeAlprError):
        return hide_credentials(str(error))
    root = cause(error)
    peer = where(host, port) if host else "the server"
    found = kind(root)
    if isinstance(root, urllib.error.HTTPError):
        reason = f" ({root.reason})" if isinstance(root.reason, str) and root.reason else ""
        text = f"HTTP {root.code}{reason} from {peer}"
    elif found == NAME:
        text = f"name {host} not resolved" if host else "name not resolved"
    elif found == REFUSED:
        text = f"connection refused by {peer}"
    elif found == TIMEOUT:
        text = f"timed out after {timeout_s:g} s" if timeout_s else "timed out"
    elif found == TLS_TRUST:
        text = "TLS certificate not trusted"
    elif found == TLS_TIME and isinstance(root, ssl.SSLCertVerificationError):
        renew = "" if root.verify_code == NOT_YET_VALID else "renew it if it has, else "
        text = f"TLS certificate {out_of_dates(root)}: {renew}{CLOCK_FIX}"
    elif found == TLS_NAME:
        text = f"TLS certificate does not name {host}" if host else "TLS certificate names another host"
    elif found == TLS:
        text = "TLS handshake failed"
    elif found == UNREACHABLE:
        route = isinstance(root, OSError) and root.errno == errno.EHOSTUNREACH
        text = f"no route to {peer}" if route else f"network unreachable ({peer})"
    elif found == CLOSED:
        text = f"connection closed by {peer} before it answered"
    else:
        return detail(root)
    return hide_credentials(text)


def retry_after(error: BaseException, now: float | None = None) -> float | None:
    """The seconds a receiver's ``Retry-After`` asks to wait (a 429 or 503's: delay-seconds or
    an HTTP date), else None: the worker then waits at least that long before it retries, so
    that a receiver that throttles is not hammered at the backoff's own pace."""
    root = cause(error)
    if not isinstance(root, urllib.error.HTTPError) or root.headers is None:
        return None
    value = (root.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # neither form: the backoff alone
    seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None
