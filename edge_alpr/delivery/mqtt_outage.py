"""The connection's outages: one warning each, naming why and the fix (``mqtt_connect.Why``).

Why apart from the client (``mqtt_connect.py``): what the broker or the network did is told
there, once per failed attempt; how often the operator hears of it (once an outage, a flapping
connection once until it stays up) is this module's bookkeeping.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from .mqtt_config import MqttConfig
from .mqtt_connect import Why, device_id

# the publisher's logger: the connection is the publisher's story in the log
log = logging.getLogger("edge_alpr.delivery.mqtt")

# a connection dropped this many times within FLAP_WINDOW_S keeps being taken away (``Outage.lost``)
FLAP_DROPS = 3
FLAP_WINDOW_S = 60.0
STABLE_S = 300.0  # up this long: the flapping is over (the next drops may be warned of again)


class Outage:
    """The connection's failures: one warning per outage, the retries at debug level, and one
    info line when it ends, with how long it lasted.

    Why one warning: a connection that drops and cannot be made again is one outage, like a
    camera's; "disconnected" and then "cannot connect" read as two problems.  A lost connection
    is only noted (``lost``); the warning comes with the first failed reconnection and names both
    why it dropped and why it cannot be made again, with the fix.  A reconnection at the first
    try is no outage to warn of: its info line says what was lost.

    A connection that keeps dropping and coming back at once (``FLAP_DROPS`` drops within
    ``FLAP_WINDOW_S``: another client with the same client id, or a broker closing it for missed
    keep-alives) is warned of once, naming those causes; its reconnections are then logged at
    debug level until it has stayed up ``STABLE_S``, so it neither floods the log nor hides from
    ``journalctl -p warning``.
    """

    def __init__(self, cfg: MqttConfig, client_id: str) -> None:
        self.where = f"{cfg.host}:{cfg.port}"
        self.client_id, self.keepalive = client_id, cfg.keepalive
        # the default client id is made from the device id: a second device with that id takes the
        # connection, and the fix is its own device id (its own client id would leave both on one
        # set of topics, overwriting each other's retained status and camera health)
        self.shared = (f"another device with the same mqtt.device_id {device_id(cfg)!r} (the client id {client_id!r} "
                       "is made from it; the two also overwrite each other's retained status and camera health: "
                       "give each device its own mqtt.device_id)" if not cfg.client_id else
                       f"another client connects with the same client id {client_id!r} (set mqtt.client_id to one "
                       "no other client uses)")
        self._drops: deque[float] = deque()  # when the connection dropped, within FLAP_WINDOW_S
        self._flapping = False  # warned of; quiet until the connection stays up STABLE_S
        self._up_since: float | None = None  # when the latest connection was made
        self.why: Why | None = None  # the latest failure of this outage, None while connected
        self.dropped: str | None = None  # why the connection dropped, when the outage began so
        self.since: float | None = None  # when the outage began (monotonic), None while connected
        self.attempts = 0  # failed attempts in this outage
        self._warned = False
        self._refused = False  # the latest failure was a refused login (its hang-up follows)

    def lost(self, reason: str, flapping: bool = True) -> None:
        """A connection that was up dropped (paho reconnects): the start of an outage.
        ``flapping``: False where the broker dropped it for a message it refuses (``mqtt_size``,
        which warns of it once): not counted as the connection keeping dropping."""
        self.why, self.dropped, self.since, self.attempts = None, reason, time.monotonic(), 0
        self._warned = self._refused = False
        log.debug("mqtt: lost the connection to broker %s (%s); reconnecting", self.where, reason)
        if flapping:
            self._count_drop(reason)

    def _count_drop(self, reason: str) -> None:
        """Warn once of a connection that keeps dropping soon after it is made (see the class)."""
        now = time.monotonic()
        if self._up_since is not None and now - self._up_since >= STABLE_S:
            self._drops.clear()
            self._flapping = False
        self._drops.append(now)
        while self._drops[0] < now - FLAP_WINDOW_S:
            self._drops.popleft()
        if self._flapping or len(self._drops) < FLAP_DROPS:
            return
        self._flapping = True
        log.warning("mqtt: the connection to broker %s dropped %d times within %.0f s, each time soon after "
                    "it was made (last: %s); likely %s, the broker closes it for missed "
                    "keep-alives (mqtt.keepalive is %d s; check the network and the broker's log), or it "
                    "refuses a message of this device (larger than its max_packet_size or "
                    "message_size_limit: its log says; an event is set aside after 3 such drops); "
                    "reconnecting quietly until it stays up for %.0f s", self.where, len(self._drops),
                    FLAP_WINDOW_S, reason, self.shared, self.keepalive, STABLE_S)

    def failed(self, why: Why, refusal: bool = False, quiet: bool = False) -> None:
        """A failed attempt; ``quiet``: warned of already by another (a limit of the broker's
        that the next attempt keeps within: ``mqtt_limits``)."""
        self.why, self._refused = why, refusal
        self.attempts += 1
        if self.since is None:
            self.since = time.monotonic()
        if self._warned or self._flapping or quiet:  # flapping: warned of already, quiet until stable
            log.debug("mqtt: still not connected to %s: %s", self.where, why.reason)
            return
        self._warned = True
        lost = f"lost the connection to broker {self.where} ({self.dropped}) and cannot reconnect"
        log.warning("mqtt: %s: %s; %s (retrying quietly; events wait in the outbox)",
                    lost if self.dropped else f"cannot connect to broker {self.where}", why.reason, why.fix)

    def hung_up(self, why: Why) -> None:
        """A disconnect before the login was accepted: a refusal's own hang-up is said already."""
        if self._refused:
            self._refused = False
        else:
            self.failed(why)

    def ended(self, device: str) -> None:
        """Connected: said once, with the outage it ends (at debug level while the connection
        keeps dropping, warned of already); the next failure is a new outage."""
        self._up_since = time.monotonic()
        if self.since is None:
            log.info("mqtt: connected to %s as %s", self.where, device)
        else:
            log.log(logging.DEBUG if self._flapping else logging.INFO,
                    "mqtt: %s to %s as %s after %.1f s without a connection (%s%d failed attempt(s))",
                    "reconnected" if self.dropped else "connected", self.where, device,
                    time.monotonic() - self.since, f"lost: {self.dropped}; " if self.dropped else "",
                    self.attempts)
        self.why, self.dropped, self.since, self.attempts = None, None, None, 0
        self._warned = False

    @property
    def accepted_before(self) -> bool:
        """The broker accepted a connection of this run (its port and TLS are right)."""
        return self._up_since is not None

    def not_connected(self) -> str:
        """Why a publish cannot go now, for the delivery worker's log and ``/info/``."""
        if self.why is not None:
            return f"not connected to broker {self.where}: {self.why.reason}"
        if self.dropped is not None:
            return f"not connected to broker {self.where}: the connection was lost ({self.dropped}); reconnecting"
        return f"not connected to broker {self.where} (connecting)"
