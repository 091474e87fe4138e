"""MQTT publisher (paho-mqtt, QoS 1) for the MES: one JSON message per inspection, and the station's state.

* ``<prefix>/<station>/results``: a message per verdict as it leaves the station (its record is journaled), valid
  against ``result.schema.json`` beside this module. The inspection uid is in each message.
* ``<prefix>/<station>/state``: retained; "offline" is the will when the station goes away unannounced.

Messages wait in an outbox on disk until the broker acknowledges them (PUBACK): a broker restart loses none, and a
station restart sends only what was not acknowledged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspector.domain.line import LineControl, LineIOStatus, LineState, PartVerdict

log = logging.getLogger(__name__)
SCHEMA = Path(__file__).with_name("result.schema.json")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 1883


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_message(verdict: PartVerdict) -> dict[str, Any]:
    """The JSON message of one verdict (see ``result.schema.json``)."""
    part = verdict.part
    return {"uid": verdict.uid, "station": verdict.station, "part_id": part.id if part else None,
            "serial": part.serial if part else None, "lot": part.lot if part else None, "frame_id": verdict.frame_id,
            "verdict": str(verdict.verdict), "reason_codes": list(verdict.reason_codes),
            "score": verdict.score if verdict.score is not None and math.isfinite(verdict.score) else None,
            "models": [{"bundle_id": b, "score": s if s is not None and math.isfinite(s) else None}
                       for b, s in verdict.models],
            "bundle_ids": [b for b, _ in verdict.models], "recipe": verdict.recipe,
            "recipe_version": verdict.recipe_version, "acquired_at": iso(verdict.acquired_at),
            "released_at": iso(verdict.released_at), "recorded": verdict.durable}


class Outbox:
    """Messages not yet acknowledged, on disk: ``outbox.jsonl`` holds them, ``acked.log`` the uids that went."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._messages, self._acked = folder / "outbox.jsonl", folder / "acked.log"
        acked = set(self._acked.read_text().split()) if self._acked.exists() else set()
        self.pending: OrderedDict[str, str] = OrderedDict()
        if self._messages.exists():
            for line in self._messages.read_text(encoding="utf-8").splitlines():
                try:
                    uid = json.loads(line)["uid"]
                except (ValueError, KeyError):
                    continue  # a torn last line from a crash: that message was never acknowledged nor released
                if uid not in acked:
                    self.pending[uid] = line
        self._compact()

    def _append(self, path: Path, text: str) -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def add(self, uid: str, payload: str) -> None:
        self._append(self._messages, payload + "\n")
        self.pending[uid] = payload

    def acked(self, uids: list[str]) -> None:
        self._append(self._acked, "".join(f"{uid}\n" for uid in uids))
        for uid in uids:
            self.pending.pop(uid, None)
        if not self.pending:
            self._compact()

    def _compact(self) -> None:
        """Rewrite the outbox with what is pending only (and forget the acknowledgments)."""
        tmp = self._messages.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in self.pending.values()), encoding="utf-8")
        os.replace(tmp, self._messages)
        self._acked.unlink(missing_ok=True)


class MqttLine:
    """Publishes from a thread of its own; ``publish`` only adds to the outbox (fsynced) and wakes it."""

    name = "mqtt"

    def __init__(self, station: str, outbox: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 topic_prefix: str = "inspector", keepalive_s: int = 15, window: int = 64) -> None:
        self.station, self.host, self.port = station, host, port
        self.results_topic = f"{topic_prefix}/{station}/results"
        self.state_topic = f"{topic_prefix}/{station}/state"
        self.keepalive_s, self.window = keepalive_s, window
        self.outbox = Outbox(outbox)
        self.sent = self.acknowledged = 0
        self.connected = False
        self.error: str | None = None
        self._inflight: dict[int, str] = {}  # mid -> uid
        self._queued: set[str] = set()  # uids handed to paho (it resends them itself after a reconnect)
        self._early: set[int] = set()  # mids acknowledged before publish() returned
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    # ---- the port ----------------------------------------------------------------------------------------------
    def start(self, control: LineControl) -> None:
        import paho.mqtt.client as mqtt

        client = self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"inspector-{self.station}",
                                            clean_session=True)
        client.on_connect, client.on_disconnect, client.on_publish = self._on_connect, self._on_disconnect, \
            self._on_publish
        client.reconnect_delay_set(0.2, 2)
        client.max_inflight_messages_set(self.window)
        client.will_set(self.state_topic, json.dumps({"state": "offline", "station": self.station}), qos=1,
                        retain=True)
        client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        client.loop_start()
        self._thread = threading.Thread(target=self._send, name="line-mqtt", daemon=True)
        self._thread.start()

    def publish(self, verdict: PartVerdict) -> None:
        payload = json.dumps(result_message(verdict), separators=(",", ":"), allow_nan=False, default=str)
        with self._cond:
            self.outbox.add(verdict.uid, payload)
            self._cond.notify()

    def publish_state(self, state: LineState, reason: str | None = None) -> None:
        message = {"state": str(state), "reason": reason, "station": self.station, "at": iso(time.time())}
        self._client.publish(self.state_topic, json.dumps(message), qos=1, retain=True)

    def status(self) -> LineIOStatus:
        pending = len(self.outbox.pending)
        detail = (f"{self.host}:{self.port} · {self.acknowledged:,} acknowledged" + (f" · {pending:,} waiting"
                                                                                    if pending else ""))
        if not self.connected:
            detail = f"broker {self.host}:{self.port} unreachable · {pending:,} waiting" + (
                f" ({self.error})" if self.error else "")
        return LineIOStatus(self.name, self.connected, detail, peer=f"{self.host}:{self.port}")

    def close(self, timeout: float = 5.0) -> None:
        """Wait a little for what is pending to be acknowledged (the rest goes at the next start)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.outbox.pending and self.connected and time.monotonic() < deadline:
                self._cond.wait(0.05)
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        self._client.publish(self.state_topic, json.dumps({"state": "stopped", "station": self.station}), qos=1,
                             retain=True)
        self._client.disconnect()
        self._client.loop_stop()

    # ---- the sender --------------------------------------------------------------------------------------------
    def _send(self) -> None:
        while True:
            with self._cond:
                while not self._closing and not (self.connected and self._next() is not None):
                    self._cond.wait(0.5)
                if self._closing:
                    return
                uid = self._next()
                payload = self.outbox.pending[uid]
                self._queued.add(uid)
            info = self._client.publish(self.results_topic, payload, qos=1)
            with self._cond:
                self.sent += 1
                if info.mid in self._early:  # the broker answered before we noted the mid
                    self._early.discard(info.mid)
                    self._ack(uid)
                else:
                    self._inflight[info.mid] = uid

    def _next(self) -> str | None:
        if len(self._queued) >= self.window:
            return None
        return next((uid for uid in self.outbox.pending if uid not in self._queued), None)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        with self._cond:
            self.connected = not reason_code.is_failure
            self.error = None if self.connected else str(reason_code)
            self._cond.notify_all()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        with self._cond:
            self.connected = False
            self.error = str(reason_code)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._cond:
            uid = self._inflight.pop(mid, None)
            if uid is None:
                self._early.add(mid)
                return
            self._ack(uid)

    def _ack(self, uid: str) -> None:
        self._queued.discard(uid)
        self.outbox.acked([uid])
        self.acknowledged += 1
        self._cond.notify_all()
