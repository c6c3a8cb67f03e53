"""The answer to a camera's ``WWW-Authenticate`` challenges (RTSP and HTTP, RFC 7235/7616/7617).

Why it is careful: a wrong answer makes the camera's refusal blame a right password in
``last_error``, and counts as a failed login where cameras lock a client out after a few.  So:

- every challenge is read, from every ``WWW-Authenticate`` header (a camera offering Digest and
  Basic sends two), and parameters are quoted strings with their commas and escapes (a realm
  ``"Cam, lobby"`` was cut at its comma, so the password was hashed with the wrong realm);
- Digest is preferred, Basic (the password in clear) sent only where it is the only scheme
  offered: with both, the first answer sent it in clear to a camera that asked for Digest first;
- Digest is answered as its algorithm says (MD5, SHA-256 and their ``-sess`` forms, echoed in
  the answer) and with ``opaque`` echoed whatever ``qop``; a challenge this answer cannot meet
  (another algorithm or qop) gets no answer at all, so no verdict about the password is made.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_SEP = re.compile(r"[\s,]*")  # skipped once before each scheme or parameter, never retried
_PARAM = re.compile(rf'({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)', re.S)
_SCHEME = re.compile(rf"({_TOKEN})(?=\s|,|$)")
_HASHES: dict[str, Callable[[bytes], str]] = {
    "md5": lambda b: hashlib.md5(b, usedforsecurity=False).hexdigest(),
    "sha-256": lambda b: hashlib.sha256(b).hexdigest(),
}


def challenges(values: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Each challenge in ``values`` (the ``WWW-Authenticate`` headers, any number of
    challenges in each): its scheme in lower case and its parameters (names in lower case,
    quoted strings unquoted).

    Linear in the header's length: separators are skipped once, ahead of each match (patterns
    that began with them rescanned a run of commas from every comma: 65,000 of them took 44 s)."""
    found: list[tuple[str, dict[str, str]]] = []
    for value in values:
        pos = 0
        while (pos := _skip(value, pos)) < len(value):
            scheme = _SCHEME.match(value, pos)
            if not scheme:
                pos = _past_comma(value, pos)  # not a challenge: skip past it
                continue
            params: dict[str, str] = {}
            found.append((scheme.group(1).lower(), params))
            pos = scheme.end()
            while (param := _PARAM.match(value, _skip(value, pos))) is not None:
                raw = param.group(2)
                if len(raw) > 1 and raw[0] == raw[-1] == '"':
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.S)
                params[param.group(1).lower()] = raw
                pos = param.end()
            nxt = _skip(value, pos)
            if nxt < len(value) and not _SCHEME.match(value, nxt):  # a token68 (Negotiate, Bearer): skipped
                pos = _past_comma(value, nxt)
    return found


def _skip(value: str, pos: int) -> int:
    found = _SEP.match(value, pos)
    return found.end() if found else pos


def _past_comma(value: str, pos: int) -> int:
    comma = value.find(",", pos)
    return len(value) if comma < 0 else comma + 1


def stale(offered: list[tuple[str, dict[str, str]]]) -> bool:
    """Whether a Digest challenge says the nonce was stale (``stale=true``): the password was
    right, only the nonce had expired (a camera tying nonces to a connection does this)."""
    return any(scheme == "digest" and params.get("stale", "").lower() == "true" for scheme, params in offered)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _digest(params: dict[str, str], user: str, password: str, uri: str, method: str,
            cnonce: str | None) -> str | None:
    """The Digest answer to ``params``, or None where this answer cannot meet them."""
    algorithm = params.get("algorithm", "MD5")
    base, sess = algorithm.lower().removesuffix("-sess"), algorithm.lower().endswith("-sess")
    offered = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in offered else "auth-int" if "auth-int" in offered else None
    if base not in _HASHES or (offered and qop is None) or (sess and qop is None) or "nonce" not in params:
        return None
    digest = _HASHES[base]

    def h(text: str) -> str:
        return digest(text.encode())

    realm, nonce, cnonce = params.get("realm", ""), params["nonce"], cnonce or os.urandom(8).hex()
    name = h(f"{user}:{realm}") if params.get("userhash", "").lower() == "true" else user
    ha1 = h(f"{user}:{realm}:{password}")
    if sess:
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}" + (f":{h('')}" if qop == "auth-int" else ""))  # a request without a body
    said = [f"username={_quoted(name)}", f"realm={_quoted(realm)}", f"nonce={_quoted(nonce)}", f"uri={_quoted(uri)}"]
    if "algorithm" in params:
        said.append(f"algorithm={algorithm}")
    if qop is None:
        said.append(f'response="{h(f"{ha1}:{nonce}:{ha2}")}"')
    else:
        said += [f"qop={qop}", "nc=00000001", f"cnonce={_quoted(cnonce)}",
                 f'response="{h(f"{ha1}:{nonce}:00000001:{cnonce}:{qop}:{ha2}")}"']
    if "opaque" in params:
        said.append(f"opaque={_quoted(params['opaque'])}")
    if name != user:
        said.append("userhash=true")
    return "Digest " + ", ".join(said)


def authorization(offered: list[tuple[str, dict[str, str]]], user: str, password: str, uri: str,
                  method: str, cnonce: str | None = None) -> str | None:
    """The ``Authorization`` header answering the ``offered`` challenges (``challenges``) for
    ``method`` on ``uri``, or None where none can be answered without sending the password in
    clear to a camera that asked for more (see the module)."""
    digests = [p for scheme, p in offered if scheme == "digest"]
    # the strongest algorithm first (RFC 7616 3.7), each as the camera lists them
    digests.sort(key=lambda p: not p.get("algorithm", "MD5").lower().startswith("sha-256"))
    for params in digests:
        said = _digest(params, user, password, uri, method, cnonce)
        if said is not None:
            return said
    if offered and all(scheme == "basic" for scheme, _ in offered):
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return None
