"""`mgpe serve` over real HTTP: re-render after a brush stroke, with and without the embedding
cache, and the time from launching the command to the first page.

Two servers are started the way a user starts one, as `mgpe serve --port P` subprocesses
(built-in model ``mgpe-synth-128``, 128 px, or ``--model``): the default (embedding cache on)
and one with the cache off (hidden option ``--embedding-cache 0``: every render is a full
edit: squaring, encoding the photo's five components, decoding, synthesis). Each gets a session with
``sample:0``; then ``--strokes`` strokes, each a few mask pixels painted hair at another place,
are sent as ``POST /api/sessions/{sid}/render`` with the painted mask (base64 PNG), one at a
time on one keep-alive connection per server, the two servers taking turns in ``--phases``
blocks (only one works at a time; the first stroke of each block is not counted).
Timed: from sending the request to having read the whole PNG response (the stroke's PNG is
encoded before the clock starts). Rows: the ``face`` view
(the model's 128 px square) and the ``photo`` view (pasted back into the 256 px sample). The
first render of each server (loading, the cache's first fill) is a warm-up, not counted.

Start-up: wall time from ``Popen`` of ``mgpe serve`` to the first 200 on ``/`` (the page; the
model loads in the background meanwhile), median over ``--starts`` launches; and to the first
render answered (the networks loaded).

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_serve.py [--strokes 50] [--starts 3]
        [--phases 4] [--model NAME|FOLDER]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
HAIR = 10  # mgpe-11's hair id (checked against /api/info)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(port: int, *extra: str) -> subprocess.Popen:
    mgpe = Path(sys.executable).with_name("mgpe")
    cmd = [str(mgpe)] if mgpe.exists() else [sys.executable, "-m", "mgpe_cli"]
    return subprocess.Popen([*cmd, "serve", "--port", str(port), *extra], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(port: int, path: str, timeout: float = 120.0) -> float:
    """Seconds until GET ``path`` answers 200 (polled every 10 ms)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"no answer on port {port} within {timeout} s")


class Client:
    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, path, body=None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read()


def stroke_masks(mask: np.ndarray, n: int, seed: int = 0) -> list[str]:
    """``n`` masks, each the previous with a 6 x 6 dab of hair somewhere on the face."""
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(mask)
    out, cur = [], mask.copy()
    for _ in range(n):
        k = rng.integers(len(ys))
        cur = cur.copy()
        cur[ys[k]:ys[k] + 6, xs[k]:xs[k] + 6] = HAIR
        buf = io.BytesIO()
        Image.fromarray(cur).save(buf, "PNG", compress_level=1)
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out


class Stroker:
    """One session on one server with ``sample:0`` and its stroke masks."""

    def __init__(self, port: int, strokes: int, view: str):
        self.c, self.view = Client(port), view
        sid = json.loads(self.c.call("POST", "/api/sessions", {})[1])["session"]
        self.pid = json.loads(self.c.call("POST", f"/api/sessions/{sid}/photos",
                                          {"sample": 0})[1])["photo"]
        self.url = f"/api/sessions/{sid}/render"
        body = self.c.call("GET", f"/api/sessions/{sid}/photos/{self.pid}/mask.png")[1]
        self.masks = stroke_masks(np.asarray(Image.open(io.BytesIO(body))), strokes + 1)
        self.stroke(0)  # warm-up: the first render fills the cache

    def stroke(self, i: int) -> float:
        t0 = time.perf_counter()
        status, body = self.c.call("POST", self.url, {"photo": self.pid, "mask": self.masks[i],
                                                      "view": self.view})
        took = time.perf_counter() - t0
        assert status == 200 and body[:4] == b"\x89PNG", status
        return took


def measure(servers: dict, strokes: int, view: str, phases: int) -> dict[str, list[float]]:
    """Seconds per stroke on each server. The servers take turns in ``phases`` blocks of
    strokes each (A B B A ...), so a drift in the machine's load hits them alike, while only
    one server works at a time: turns stroke by stroke let the idle server's spinning OpenMP
    threads take the two cores from the working one (up to +10 ms a render). The first stroke
    of each block re-warms the server and is not counted."""
    clients = {name: Stroker(port, strokes + phases, view) for name, (_, port) in
               servers.items()}
    times: dict[str, list[float]] = {name: [] for name in clients}
    per = -(-strokes // phases)
    done = {name: 1 for name in clients}
    for k in range(phases):
        order = list(clients) if k % 2 == 0 else list(clients)[::-1]
        for name in order:
            n = min(per, strokes - len(times[name]))
            for j in range(n + 1):
                took = clients[name].stroke(done[name])
                done[name] += 1
                if j:
                    times[name].append(took)
    return times


def pct(xs, q) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strokes", type=int, default=50)
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--phases", type=int, default=4,
                    help="blocks of strokes per server, taking turns (A B B A ...)")
    ap.add_argument("--model", default=None,
                    help="model for every server (name or folder; default: mgpe serve's)")
    args = ap.parse_args()
    model = ("--model", args.model) if args.model else ()

    starts, loaded = [], []
    for _ in range(args.starts):
        port = free_port()
        t0 = time.perf_counter()
        proc = launch(port, *model)
        try:
            wait_for(port, "/")
            starts.append(time.perf_counter() - t0)
            wait_for(port, "/api/info")
            c = Client(port)
            sid = json.loads(c.call("POST", "/api/sessions", {})[1])["session"]
            pid = json.loads(c.call("POST", f"/api/sessions/{sid}/photos",
                                    {"sample": 0})[1])["photo"]
            assert c.call("POST", f"/api/sessions/{sid}/render", {"photo": pid})[0] == 200
            loaded.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait(30)

    rows = []
    servers = {}
    try:
        for name, extra in (("cached", ()), ("uncached", ("--embedding-cache", "0"))):
            port = free_port()
            servers[name] = (launch(port, *model, *extra), port)
            wait_for(port, "/api/info")
        info = json.loads(Client(servers["cached"][1]).call("GET", "/api/info")[1])
        names = [c["name"] for c in info["schema"]["classes"]]
        assert names[HAIR] == "hair", names
        for view in ("face", "photo"):
            got = measure(servers, args.strokes, view, args.phases)
            for name in ("uncached", "cached"):
                rows.append((view, name, pct(got[name], 50), pct(got[name], 95)))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)

    threads = os.environ.get("OMP_NUM_THREADS", "(default)")
    print(f"mgpe serve, model {info['model']['name']} ({info['model']['resolution']} px), "
          f"{args.strokes} strokes per row, OMP_NUM_THREADS={threads}\n")
    print("| view | render | p50 ms | p95 ms | x uncached (p50) |")
    print("|---|---|---:|---:|---:|")
    base = {}
    for view, name, p50, p95 in rows:
        if name == "uncached":
            base[view] = p50
        print(f"| {view} | {name}{' (baseline)' if name == 'uncached' else ''} | {p50:.1f} | "
              f"{p95:.1f} | {base[view] / p50:.2f} |")
    print(f"\n| start-up (median of {args.starts}) | s |\n|---|---:|")
    print(f"| `mgpe serve` to the first 200 on `/` | {statistics.median(starts):.2f} |")
    print(f"| `mgpe serve` to the first render answered | {statistics.median(loaded):.2f} |")


if __name__ == "__main__":
    main()
