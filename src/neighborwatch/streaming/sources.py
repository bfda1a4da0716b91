"""Event sources: Redis Streams consumer groups (durable), and a bounded in-memory queue.

Redis: events are partitioned by user over `n` streams (`<prefix>:<i>`, i = crc32(user) mod n),
so every event of a user — hence every session and the user's risk — lands in one stream, and
one worker per set of streams scales out without sharing state. A worker reads with a consumer
group and a STABLE consumer name; it acknowledges (XACK) an entry only once a snapshot holds its
effect, so after a crash its pending entries are read again first (at-least-once), and the
engine's event-id dedup makes the second delivery harmless (idempotent).

An entry that keeps coming back unprocessed — handed out `max_deliveries` times (the XPENDING
delivery count), i.e. the worker died on it that often — is not handed to the engine again: it
becomes a dead-letter entry and is acknowledged, so no entry can hold a worker in a crash loop.
Dead-letter entries are also appended to the stream `<prefix>:dead` (field `entry`, JSON).

The in-memory queue serves `POST /events` when no Redis is configured: bounded, and a full queue
answers "try later" (HTTP 429) rather than growing.
"""

from __future__ import annotations

import json
import queue
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from neighborwatch.streaming.events import DEFAULT_TIME_RANGE, LiveEvent, TimeRange, parse_event

DEFAULT_PREFIX = "neighborwatch:events"
DEFAULT_GROUP = "neighborwatch"
MAX_DELIVERIES = 5  # deliveries of one entry before it is dead-lettered instead
DEAD_LETTER_MAXLEN = 100_000  # the dead-letter stream is capped (approximately), the file is not
# an XREADGROUP reply: [(stream, [(entry id, {field: value})])]
_StreamReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


def partition_of(user: str, partitions: int) -> int:
    """Stable partition of a user (same answer in every process, unlike `hash`)."""
    return zlib.crc32(user.encode()) % partitions


def stream_names(prefix: str, partitions: int, only: Iterable[int] | None = None) -> list[str]:
    ids = range(partitions) if only is None else sorted(set(only))
    for i in ids:
        if not 0 <= i < partitions:
            raise ValueError(f"partition {i} outside 0..{partitions - 1}")
    return [f"{prefix}:{i}" for i in ids]


@dataclass
class BadMessage:
    """A message that is not a valid event: reported and acknowledged, never retried forever."""

    ack: Any
    error: str
    raw: str


class Backpressure(Exception):
    """The bounded queue is full; the caller should retry later."""


class MemorySource:
    """Bounded queue of parsed events (HTTP intake without Redis)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._q: queue.Queue[LiveEvent] = queue.Queue()
        self._size = 0

    @property
    def depth(self) -> int:
        return self._q.qsize()

    def put_batch(self, events: list[LiveEvent]) -> None:
        if self._q.qsize() + len(events) > self.capacity:
            raise Backpressure(f"queue holds {self._q.qsize()} of {self.capacity} events")
        for e in events:
            self._q.put(e)

    def poll(self, max_n: int, block_s: float) -> tuple[list[LiveEvent], list[BadMessage]]:
        out: list[LiveEvent] = []
        try:
            out.append(self._q.get(timeout=block_s) if block_s > 0 else self._q.get_nowait())
        except queue.Empty:
            return out, []
        while len(out) < max_n:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out, []

    def ack(self, tokens: list[Any]) -> None:
        pass

    def close(self) -> None:
        pass


class RedisPublisher:
    """Appends events to the user-partitioned streams (POST /events with Redis, and replay)."""

    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        partitions: int = 1,
        max_pending: int = 0,
        group: str = DEFAULT_GROUP,
    ) -> None:
        import redis

        self.r = redis.Redis.from_url(url)
        self.prefix, self.partitions = prefix, partitions
        self.max_pending, self.group = max_pending, group

    def backlog(self) -> int:
        """Entries not yet acknowledged by the group, over all partitions (lag + pending)."""
        total = 0
        for s in stream_names(self.prefix, self.partitions):
            try:
                for g in self.r.xinfo_groups(s):
                    if g["name"].decode() == self.group:
                        total += int(g.get("lag") or 0) + int(g.get("pending") or 0)
            except Exception:  # noqa: BLE001 — stream not created yet
                continue
        return total

    def publish(self, events: list[dict[str, Any]]) -> None:
        if self.max_pending and self.backlog() + len(events) > self.max_pending:
            raise Backpressure(f"redis backlog above {self.max_pending} events")
        pipe = self.r.pipeline(transaction=False)
        for e in events:
            s = f"{self.prefix}:{partition_of(str(e['user']), self.partitions)}"
            pipe.xadd(s, {"event": json.dumps(e, default=str)})
        pipe.execute()

    def close(self) -> None:
        self.r.close()


class RedisSource:
    """Consumer-group reader over some partitions' streams."""

    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        partitions: int = 1,
        only: Iterable[int] | None = None,
        group: str = DEFAULT_GROUP,
        consumer: str = "worker-0",
        max_deliveries: int = MAX_DELIVERIES,
        time_range: TimeRange | None = DEFAULT_TIME_RANGE,
    ) -> None:
        import redis

        self.r = redis.Redis.from_url(url)
        self.streams = stream_names(prefix, partitions, only)
        self.dead_stream = f"{prefix}:dead"
        self.max_deliveries, self.time_range = max_deliveries, time_range
        self.group, self.consumer = group, consumer
        for s in self.streams:
            try:
                self.r.xgroup_create(s, group, id="0", mkstream=True)
            except redis.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise
        # first re-read what this consumer was handed but never acknowledged (crash recovery)
        self._pel: dict[str, bytes | str] = {s: "0" for s in self.streams}
        self.depth = 0

    def _deliveries(self, stream: str, entries: list) -> dict[str, int]:
        """Delivery count of re-read pending entries (this read included)."""
        ids = [m.decode() if isinstance(m, bytes) else m for m, _ in entries]
        if not ids:
            return {}
        # redis-py types replies as Any | Awaitable (one stub for sync and async clients)
        rows = cast(
            list[dict[str, Any]],
            self.r.xpending_range(
                stream, self.group, min=ids[0], max=ids[-1], count=len(ids), consumername=self.consumer
            ),
        )
        return {
            (r["message_id"].decode() if isinstance(r["message_id"], bytes) else r["message_id"]): int(
                r["times_delivered"]
            )
            for r in rows
        }

    def _parse(self, stream: str, entries: list, pending: bool = False) -> tuple[list[LiveEvent], list[BadMessage]]:
        now = time.monotonic()
        good, bad = [], []
        counts = self._deliveries(stream, entries) if pending and self.max_deliveries else {}
        for msg_id, fields in entries:
            ack = (stream, msg_id.decode() if isinstance(msg_id, bytes) else msg_id)
            raw = fields.get(b"event", b"") if fields else b""
            if counts.get(ack[1], 0) > self.max_deliveries:
                bad.append(
                    BadMessage(
                        ack,
                        f"delivered {counts[ack[1]]} times without being processed",
                        raw.decode(errors="replace")[:2000],
                    )
                )
                continue
            try:
                good.append(parse_event(json.loads(raw), ack=ack, arrived=now, time_range=self.time_range))
            except (ValueError, TypeError, RecursionError) as e:
                bad.append(BadMessage(ack, str(e)[:500], raw.decode(errors="replace")[:2000]))
        return good, bad

    def dead_letter(self, entries: list[dict[str, Any]]) -> None:
        """Append dead-letter entries to `<prefix>:dead` (a copy of STATE/dead-letter.jsonl)."""
        pipe = self.r.pipeline(transaction=False)
        for e in entries:
            pipe.xadd(
                self.dead_stream, {"entry": json.dumps(e, default=str)}, maxlen=DEAD_LETTER_MAXLEN, approximate=True
            )
        pipe.execute()

    def poll(self, max_n: int, block_s: float) -> tuple[list[LiveEvent], list[BadMessage]]:
        good: list[LiveEvent] = []
        bad: list[BadMessage] = []
        if self._pel:
            # (redis-py's stub wants a dict with bytes | str | memoryview keys: dict is invariant)
            resp = cast(_StreamReply | None, self.r.xreadgroup(self.group, self.consumer, dict(self._pel), count=max_n))  # type: ignore[arg-type]
            for name, entries in resp or []:
                stream = name.decode()
                if not entries:
                    self._pel.pop(stream, None)
                    continue
                self._pel[stream] = entries[-1][0]
                g, b = self._parse(stream, entries, pending=True)
                good += g
                bad += b
            for s in [
                s
                for s in self._pel
                if all((x[0].decode() if isinstance(x[0], bytes) else x[0]) != s for x in resp or [])
            ]:
                self._pel.pop(s, None)
            if good or bad:
                return good, bad
        resp = cast(
            _StreamReply | None,
            self.r.xreadgroup(
                self.group,
                self.consumer,
                {s: ">" for s in self.streams},
                count=max_n,
                block=max(1, int(block_s * 1000)) if block_s > 0 else None,
            ),
        )
        for name, entries in resp or []:
            g, b = self._parse(name.decode(), entries)
            good += g
            bad += b
        return good, bad

    def ack(self, tokens: list[Any]) -> None:
        by_stream: dict[str, list[str]] = {}
        for t in tokens:
            if t is not None:
                by_stream.setdefault(t[0], []).append(t[1])
        pipe = self.r.pipeline(transaction=False)
        for s, ids in by_stream.items():
            for i in range(0, len(ids), 1000):
                pipe.xack(s, self.group, *ids[i : i + 1000])
        pipe.execute()

    def close(self) -> None:
        self.r.close()
