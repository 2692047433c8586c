"""Coalescing of one session's renders: a brush stroke made while the previous render runs
replaces the one waiting, instead of piling up (the waiting one is answered at once with
:class:`Superseded`, 409). Runs in worker threads (``anyio.to_thread``), so the event loop
never waits; at most one render of a session runs and at most one waits."""

from __future__ import annotations

import threading

from mgpe_core.errors import MgpeError


class Superseded(MgpeError):
    """A newer render of the same session replaced this one (409)."""


class Coalescer:
    def __init__(self):
        self._cond = threading.Condition()
        self._busy = False
        self._latest = 0

    def submit(self, job):
        """Run ``job()`` once the session's running render is done, unless a newer
        submission arrives first (then :class:`Superseded`)."""
        with self._cond:
            self._latest += 1
            ticket = self._latest
            self._cond.notify_all()  # a waiting older render learns it is replaced
            while self._busy:
                self._cond.wait()
                if self._latest != ticket:
                    raise Superseded("superseded")
            self._busy = True
        try:
            return job()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
