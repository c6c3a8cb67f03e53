"""What the service says about its secrets: URLs shown with their credentials hidden, and the API
token read once and judged for strength.

Why one module: a camera URL (``rtsp://user:pass@cam/``, an IP camera's ``?usr=admin&pwd=...``)
and a webhook URL (``https://host/hook?token=...``) reach the log, exception messages, ``/info/``,
``/metrics`` and the console; each of those places calls ``hide_credentials``, so a rule added
here (another parameter name) holds everywhere at once.  The token check is here because both
``check-config`` (which must not import the server) and the server's start use it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from pathlib import Path

from .configutil import Secret, read_secret
from .errors import ConfigError

# what follows a URL's '//' up to its path (or the line's end): the user and password end at its
# last '@' ('@', '?', '#' and spaces may all be in a password typed unencoded; hiding too much is
# better than showing a password), unless that '@' is in a query or fragment (``_userinfo_end``)
# ('///' is tried from its second '/': ``rtsp:///admin:pw@cam`` hides the password too)
_AUTHORITY_ON = re.compile(r"//(?!/)([^/\r\n]*)")
_HOST_ONLY = re.compile(r"(?:\[[0-9A-Fa-f:.]*\]|[\w.~%!$&'()*+,;=-]*)(?::\d*)?")  # a name or [IPv6], and a port
# what alone may stand before a query's '?' or a fragment's '#' for it to be taken as one: a host
# name without a port, or an [IPv6] address with one (``admin:1234`` may be a host and port, or a
# user and the start of a password)
_BARE_HOST = re.compile(r"\[[0-9A-Fa-f:.]*\](?::\d*)?|[\w.~%!$&'()*+,;=-]+")
# a user and a password holding an unencoded '/' (``rtsp://admin:pa/ss@cam/live``): the authority
# seems to end at that '/', its "port" is no number; the password ends at the first '@' that a
# host and the path (or the URL's end) follow.  A password of digits before its '/' (``admin:12/34``)
# is not told from a host and port with an '@' in the path (``https://host:443/@user``): left alone.
# A host then a space ends it only where the password holds a '/' (else ``admin:p@ss w0rd@cam``
# would be cut at ``p@``, showing the rest: ``_AUTHORITY_ON`` hides all of that one).
# Each part is bounded (a user, a password, a host of at most 256 characters): unbounded, text
# of many '//a:' and '@' (a client's upload_url, a redirect's Location) cost quadratic time.
_NEAR_HOST = _HOST_ONLY.pattern.replace("]*", "]{0,256}").replace(r"\d*", r"\d{0,5}")
_SLASHED_PASSWORD = re.compile(r"//[^/@:\s\[\]]{0,256}:(?![0-9]{0,256}(?:[/?#\s]|$))"
                               r"(?:\S{0,256}?@(?=" + _NEAR_HOST + r"(?:[/?#]|$))"
                               r"|[^/\s]{0,256}/\S{0,256}?@(?=" + _NEAR_HOST + r"(?:[/?#\s]|$)))")
# query (or fragment) values that are credentials (``?usr=admin&pwd=...`` of many IP cameras,
# ``loginpas=`` of P2P ones, ``pw``/``psw``, tokens, API keys, signatures, credentials, sessions,
# JWTs, HMACs), and Azure Functions' ``code=`` and a session's ``sid=``.  The text is cut into
# runs between the marks that end a value ('&', ';', '#', white space), whose parameters are
# walked left to right (``_hide_values``) and their names judged apart (``_secret_name``): a
# pattern that looked for the word inside the name backtracked on text like ``?pas?pas?pas...``
# (seconds for 4,000 characters, the GIL held: every thread of the service stopped), one that
# took no '?' into a name showed ``?cgi?token?v=...``, and a client chooses an ``upload_url``'s text.
_VALUE_RUN = re.compile(r"[^&;#\s]+")
_SECRET_NAME = re.compile(r"pas|pw|psw|token|key|auth|secret|sig|cred|session|jwt|hmac|bearer", re.IGNORECASE)
_SECRET_NAMES = frozenset({"code", "sid"})
_SEGMENT = r"[^/?#\s]+"
# path segments that are the secret of well-known webhook URLs: Home Assistant's webhook id,
# Discord's token, Slack's secret, IFTTT's key
_SECRET_PATHS = tuple(re.compile(rule) for rule in (
    rf"(/api/webhook/){_SEGMENT}",  # Home Assistant: /api/webhook/<id>
    rf"(/api/webhooks/{_SEGMENT}/){_SEGMENT}",  # Discord: /api/webhooks/<id>/<token>
    rf"(/services/T{_SEGMENT}/B{_SEGMENT}/){_SEGMENT}",  # Slack: /services/T.../B.../<secret>
    rf"(/with/key/){_SEGMENT}",  # IFTTT: /trigger/<event>/with/key/<key>
    # any other segment of 16+ hex digits and dashes (UUIDs, hex tokens), holding a digit and a
    # letter: words and stream names (/v1/plate-reader/, /stream1, /h264Preview_01_main) never are
    r"(/)(?=[0-9a-fA-F-]*[0-9])(?=[0-9a-fA-F-]*[a-fA-F])[0-9a-fA-F-]{16,}(?=[/?#\s]|$)",
))

MIN_TOKEN_CHARS = 16  # below this an API token is called weak
MIN_TOKEN_SYMBOLS = 8  # fewer different characters than this: a tiny alphabet (``aaaa...``, ``0101...``)
MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_bind_fix(token_env: str) -> str:
    """What to do about an API address beyond this machine without a token: ``serve`` and ``run``
    refuse it (``api/listener.py``), ``check-config`` warns of it with the same words."""
    return (f"anyone on the network could use it. Set {token_env} to a random secret (or the systemd "
            f"credential api_token), made e.g. by {MAKE_TOKEN}, or bind to 127.0.0.1 (--host 127.0.0.1).")


def hide_credentials(text: str) -> str:
    """``text`` (a URL, or a message holding URLs) with each URL's user and password removed, and
    shown as ``***``: the values of query parameters named like pas(s), pw(d), psw, token, key,
    auth, secret or sig, and the secret path segments of webhook URLs (``_SECRET_PATHS``);
    everything else is kept, so the host and path still say which camera or target.

    Every place that shows a URL or an error that may hold one calls it as it shows it (the
    config keeps the URL whole: the camera and the receiver need it); the log's lines all pass it
    (``HidingFormatter``), tracebacks included."""
    text = _SLASHED_PASSWORD.sub("//", text)
    text = _AUTHORITY_ON.sub(_without_userinfo, text)
    for rule in _SECRET_PATHS:
        text = rule.sub(r"\1***", text)
    return _VALUE_RUN.sub(_hide_values, text)


def _hide_values(match: re.Match[str]) -> str:
    """A run of ``_VALUE_RUN``, the value of its first parameter named like a credential hidden.

    A name starts right after the mark before the run ('&', ';', '#') or after a '?' in it, and
    ends at the next '='; it may hold '?' (``snap.cgi?cgi?token?v=``).  The value is the rest of
    the run, where a '?' may start another parameter (``?x=1?token=``).  Each look goes on from
    where the last stopped, so a run costs time in its length, whatever it holds."""
    run, at = match.group(0), match.start()
    if at > 0 and match.string[at - 1] in "&;#":
        name_at = 0
    elif (mark := run.find("?")) >= 0:
        name_at = mark + 1
    else:
        return run
    while (equals := run.find("=", name_at)) >= 0:
        if _secret_name(run[name_at:equals]):
            return run[:equals + 1] + "***"
        if (mark := run.find("?", equals + 1)) < 0:
            break
        name_at = mark + 1
    return run


def _secret_name(name: str) -> bool:
    """Whether a query parameter named ``name`` holds a credential: a word of ``_SECRET_NAME`` in
    it, or its part after its last '?' one of ``_SECRET_NAMES`` (``?x?code=``)."""
    return _SECRET_NAME.search(name) is not None or name.rpartition("?")[2].lower() in _SECRET_NAMES


def _without_userinfo(match: re.Match[str]) -> str:
    """``//`` and what follows it (``_AUTHORITY_ON``), the user and password left out."""
    region = match.group(1)
    head, _, rest = _split_at_space(region)
    if rest and ":" not in head and ":" not in rest[:rest.rfind("@") + 1] and _HOST_ONLY.fullmatch(head):
        # a host then a space, and no ':' up to a later '@': the URL ended there
        # (``https://hooks.example.com failed; contact ops@example.com``).  A user and password
        # holding a space (``John Smith:secret@cam``, ``admin:1234 5678@cam``) have a ':'.
        return match.group(0)
    end = _userinfo_end(region, match.string, match.end())
    return match.group(0) if end < 0 else "//" + region[end + 1:]


def _split_at_space(region: str) -> tuple[str, str, str]:
    """``region`` up to its first white space, that space, and the rest ("", "" where none)."""
    found = re.search(r"\s", region)
    return (region, "", "") if found is None else (region[:found.start()], found.group(), region[found.end():])


def _userinfo_end(region: str, text: str, after: int) -> int:
    """The index in ``region`` of the '@' that ends a URL's user and password; -1 for none.

    Why not always the last '@': in ``http://cam?email=a@b`` it is in the query, and taking it
    would show the URL as ``http://b``.  A '?' or '#' before the last '@' either starts a query
    or fragment or is in a password typed unencoded (``rtsp://admin:p#ss?w@rd@cam/live``).  It
    is taken to start one only when all of these hold (where unsure, more is hidden):

    - what stands before it is a host alone: ``cam``, ``[::1]:80``; not ``cam:80`` nor
      ``user@cam``, which a password holding '@', ':', '?' or '#' can look like
      (``admin:1234?x=5@cam``, ``admin:p@ss?w=rd@cam``): those hide up to the last '@';
    - a parameter (``name=``) follows it before any '@', as in ``?email=a@b`` (not in
      ``cam#34@cam2``);
    - the last '@' is not followed by a host and a path: in ``...?x@cam/live`` it is the end of
      a password, since a URL's query comes after its path.

    Then no '@' before it means the URL has no user and password.
    """
    last = region.rfind("@")
    marks = [i for i in (region.find("?"), region.find("#")) if i >= 0]
    if last < 0 or not marks or min(marks) > last:
        return last
    mark = min(marks)
    before_path = text.startswith("/", after) and _HOST_ONLY.fullmatch(region[last + 1:]) is not None
    parameter = "=" in region[mark:region.find("@", mark)]
    if parameter and not before_path and _BARE_HOST.fullmatch(region[:mark]):
        return -1
    return last


class HidingFormatter(logging.Formatter):
    """Another formatter's lines passed through ``hide_credentials``: a message, an argument or
    a traceback (an exception's text that quotes a URL) never puts a password in the journal,
    whichever module logged it."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return hide_credentials(self.inner.format(record))


def read_api_token(env_name: str, credential: str, environ: Mapping[str, str] | None = None) -> Secret | None:
    """The API token with surrounding whitespace removed, and where it was read; ``None`` when
    none is set.

    A token that is empty once stripped (``EDGE_ALPR_API_TOKEN="   "``) would pass the
    exposure check while no client could ever send it, so it is a ``ConfigError`` (only the
    variable can be: a credential file of whitespace counts as unset).
    """
    found = read_secret(env_name, credential, environ)
    if found is None:
        return None
    token = found.value.strip()
    if not token:
        raise ConfigError(f"{found.env} is set but holds only whitespace; set it to a secret, or unset "
                          "it and bind to 127.0.0.1")
    return found._replace(value=token)


def api_token(env_name: str, credential: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The API token alone (``read_api_token``), for those that need not say where it came from."""
    found = read_api_token(env_name, credential, environ)
    return found.value if found else None


def weak_token(token: str) -> str:
    """Why ``token`` is guessable ("" when it is not): wrong tokens are throttled per client,
    but a short token or one of a few symbols still falls to a patient guesser (or to many
    clients) within days."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"{len(token)} characters, fewer than {MIN_TOKEN_CHARS}"
    symbols = len(set(token))
    if symbols < MIN_TOKEN_SYMBOLS:
        return f"only {symbols} different characters"
    return ""


def token_warning(token: Secret | None) -> str:
    """The warning for a weak API token, naming the one place it was read and how to put a
    strong one there; "" for none or a strong one.  A warning, not an error: an install with a
    short token keeps starting after an upgrade."""
    if token is None:
        return ""
    if token.file is None:
        return _weak_warning(token.value, token.env,
                             f"set {token.env} to a random one of at least {MIN_TOKEN_CHARS} characters, "
                             f"e.g. the output of: {MAKE_TOKEN}")
    # systemd's copy in /run/credentials/<unit>/ is not the file to edit: the unit's
    # LoadCredential= names that one
    name, unit = token.file.name, token.file.parent.name
    where = f"`systemctl cat {unit}`" if token.file.parent.parent == Path("/run/credentials") else "the unit"
    return _weak_warning(token.value, f"{token.file} (the systemd credential {name})",
                         f"write a random one of at least {MIN_TOKEN_CHARS} characters (e.g. the output of: "
                         f"{MAKE_TOKEN}) into the file LoadCredential={name}: names in {where}, and "
                         f"restart the service")


def service_token_warning(config_path: Path, credential: str) -> str:
    """The warning for the token the service would load from ``<config's folder>/<credential>``
    (``/etc/edge-alpr/api_token``, the file the documented ``LoadCredential=`` drop-in names),
    or why it cannot be judged here; "" for no such file or a strong token.

    Why: ``check-config`` run by hand or by postinst has no ``CREDENTIALS_DIRECTORY``, so the
    token the service reads through systemd is not otherwise seen; only root can read the file.
    """
    if not credential:
        return ""
    path = config_path.parent / credential
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except PermissionError:
        return (f"{path} (the API token, if the service loads it as its credential {credential}) "
                f"is not readable by this user, so its strength is not checked here; run "
                f"check-config as root, or see the service's check at its start: "
                f"journalctl -u edge-alpr -p warning")
    except (OSError, UnicodeDecodeError) as e:
        return f"{path}: cannot read the API token ({e}); the service reads it as the credential {credential}"
    return _weak_warning(token, f"{path} (the systemd credential {credential})",
                         f"write a random one of at least {MIN_TOKEN_CHARS} characters there, e.g. the "
                         f"output of: {MAKE_TOKEN}")


def _weak_warning(token: str, source: str, fix: str) -> str:
    """The one wording of a weak token's warning, for the token ``source`` names and the ``fix``
    of that place; "" for an empty or strong token."""
    why = weak_token(token) if token else ""
    if not why:
        return ""
    return f"the API token in {source} is weak ({why}): anyone who reaches the API can guess it in time; {fix}"
