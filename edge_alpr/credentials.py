"""What the service shows of its secrets: URLs with their credentials hidden.

Why one module: a camera URL (``rtsp://user:pass@cam/``, an IP camera's ``?usr=admin&pwd=...``)
and a webhook URL (``https://host/hook?token=...``) reach the log, exception messages, ``/info/``,
``/metrics`` and the console; each of those places calls ``hide_credentials``, so a rule added
here (another parameter name) holds everywhere at once.
"""

from __future__ import annotations

import re

# the user and password of a URL: from '//' up to the last '@' before the path ('@', '?' and '#'
# may all be in a password typed unencoded; hiding too much is better than showing a password)
_USERINFO = re.compile(r"//[^/\s]*@")
# query values that are credentials (``?usr=admin&pwd=...`` of many IP cameras, tokens, keys)
_SECRET_QUERY = re.compile(r"([?&;][^=&;#\s]*(?:pass|pwd|token|key|auth|secret|sig)[^=&;#\s]*=)[^&;#\s]*",
                           re.IGNORECASE)


def hide_credentials(text: str) -> str:
    """``text`` (a URL, or a message holding URLs) with each URL's user and password removed and
    the values of query parameters named like pass, pwd, token, key, auth, secret or sig shown
    as ``***``; everything else is kept, so the host and path still say which camera or target."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub("//", text))
