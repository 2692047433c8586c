"""Sessions of ``mgpe serve``, bounded: at most ``max_sessions`` (the least recently used is
dropped first), each expiring after ``ttl`` seconds idle, each holding at most ``max_photos``
photos and ``max_results`` results (least recently used first). A client that uploads a
hundred photos or opens a thousand sessions cannot exhaust the machine's memory. Ids come
from :func:`secrets.token_urlsafe` (unguessable: another client's session cannot be named)."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from mgpe_core.errors import MgpeError


class NotFound(MgpeError):
    """An unknown (or expired) session, photo or result (404)."""


def new_id() -> str:
    return secrets.token_urlsafe(24)


class Bounded(OrderedDict):
    """An LRU mapping of at most ``limit`` entries: ``touch`` on use, the oldest dropped."""

    def __init__(self, limit: int, what: str):
        super().__init__()
        self.limit, self.what = int(limit), what

    def add(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)

    def find(self, key):
        if key not in self:
            raise NotFound(f"unknown {self.what} {str(key)[:60]!r} (expired or never made)")
        self.move_to_end(key)
        return self[key]


@dataclass(eq=False)
class Session:
    sid: str
    photos: Bounded
    results: Bounded
    last_used: float
    render: object = None  # the session's render coalescer (app.py)
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionStore:
    """The sessions of one server. ``clock``: a function giving seconds (tests inject one)."""

    def __init__(self, max_sessions: int = 32, ttl: float = 1800.0, max_photos: int = 16,
                 max_results: int = 64, clock=time.monotonic, max_bytes: int = 2 << 30):
        if max_sessions < 1 or max_photos < 1 or max_results < 1 or ttl <= 0 or max_bytes < 1:
            raise ValueError("session limits must be positive")
        self.max_sessions, self.ttl = int(max_sessions), float(ttl)
        self.max_photos, self.max_results = int(max_photos), int(max_results)
        self.max_bytes = int(max_bytes)
        self.clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        for sid in [s for s, v in self._sessions.items() if now - v.last_used > self.ttl]:
            del self._sessions[sid]

    def create(self) -> Session:
        with self._lock:
            now = self.clock()
            self._expire(now)
            s = Session(new_id(), Bounded(self.max_photos, "photo"),
                        Bounded(self.max_results, "result"), now)
            self._sessions[s.sid] = s
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            return s

    def get(self, sid: str) -> Session:
        with self._lock:
            now = self.clock()
            self._expire(now)
            s = self._sessions.get(sid)
            if s is None:
                raise NotFound(f"unknown session {str(sid)[:60]!r} (expired or never made): "
                               "start a new one")
            s.last_used = now
            self._sessions.move_to_end(sid)
            return s

    def trim(self, current: Session) -> None:
        """Keep the pictures of all sessions within ``max_bytes``: other sessions go first
        (least recently used first), then ``current``'s oldest results and photos (never its
        newest photo)."""
        with self._lock:
            total = sum(nbytes(s) for s in self._sessions.values())
            for sid in list(self._sessions):
                if total <= self.max_bytes:
                    return
                if sid != current.sid:
                    total -= nbytes(self._sessions.pop(sid))
            for part in (current.results, current.photos):
                while total > self.max_bytes and len(part) > (part is current.photos):
                    _, item = part.popitem(last=False)
                    total -= _item_bytes(item)

    def delete(self, sid: str) -> None:
        with self._lock:
            if self._sessions.pop(sid, None) is None:
                raise NotFound(f"unknown session {str(sid)[:60]!r}")

    def __len__(self) -> int:
        return len(self._sessions)


def _item_bytes(item) -> int:
    """Bytes of the numpy arrays a photo or result holds (the rest is small)."""
    seen, total = set(), 0
    for value in vars(item).values():
        for arr in (value, getattr(value, "image", None), getattr(value, "photo", None)):
            if hasattr(arr, "nbytes") and id(arr) not in seen:
                seen.add(id(arr))
                total += int(arr.nbytes)
    return total


def nbytes(session: Session) -> int:
    return sum(_item_bytes(v) for part in (session.photos, session.results)
               for v in part.values())
