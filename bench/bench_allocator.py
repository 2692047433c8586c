"""Heap retention (``mgpe_core.heap.retain_freed_memory``): time and page faults per call.

Each case runs in fresh processes, the C library's default malloc settings (baseline) and
retained heap taking turns, so the process-wide setting of one cannot leak into the other.
Cases: one edit's forward pass with the paper's widths as the engine runs it (folded BatchNorm,
channels-last, ``inference_mode``, fp32) at batch 1 and 8, and the full training step of the
built-in recipe's widths. Prints ms per image, minor page faults per call and the ratio.

    python bench/bench_allocator.py [--sizes 128 256] [--batches 1 8] [--train-size 64]
                                    [--repeat 3] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed_calls(fn, repeat: int) -> dict:
    """Warm up once, then the median seconds and mean minor faults of ``repeat`` calls."""
    fn()
    times, f0 = [], faults()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"s": statistics.median(times), "faults": (faults() - f0) / repeat}


def child_forward(size: int, batch: int, repeat: int) -> dict:
    import torch
    from bench_model_forward import edit, face_batch

    from mgpe_core.model.build import build_generator
    from mgpe_core.model.config import ModelConfig
    from mgpe_core.model.optimize import prepare_for_inference

    torch.manual_seed(0)
    gen = build_generator(ModelConfig(resolution=size, width=1.0)).eval()
    fast = prepare_for_inference(gen, channels_last=True)
    img, lab = face_batch(size, batch)
    img = img.contiguous(memory_format=torch.channels_last)

    def call():
        with torch.inference_mode():
            edit(fast, img, lab)

    return timed_calls(call, repeat)


def child_train(size: int, batch: int, repeat: int) -> dict:
    import tempfile
    from pathlib import Path

    from mgpe_core.device import resolve_device
    from mgpe_core.labels import get_schema
    from mgpe_core.model.build import build_parser
    from mgpe_core.model.config import MgpeConfig
    from mgpe_core.testing import make_prepared_folder
    from mgpe_core.train.parser_io import save_parser
    from mgpe_core.train.trainer import Trainer

    cfg = MgpeConfig.from_dict({
        "model": {"resolution": size, "width": 0.25, "latent_dim": 128},
        "train": {"batch": batch, "sample_every": 10**9, "checkpoint_every": 10**9},
    })
    with tempfile.TemporaryDirectory() as tmp:
        data, parser = Path(tmp) / "data", Path(tmp) / "parser"
        make_prepared_folder(data, count=max(4 * batch, 16), size=size, schema_name="mgpe-11",
                             seed=0)
        save_parser(parser, build_parser(cfg.model), cfg.model.parser, get_schema("mgpe-11"),
                    size)
        trainer = Trainer(cfg, data, Path(tmp) / "run", parser, resolve_device("cpu"),
                          log=lambda *a: None)
        batches = trainer.batches()
        step_inputs = [next(batches) for _ in range(repeat + 1)]
        it = iter(step_inputs)
        return timed_calls(lambda: trainer.train_step(*next(it)), repeat)


def run_child(kind: str, size: int, batch: int, repeat: int, retain: bool) -> dict:
    env = dict(os.environ, MGPE_RETAIN_HEAP="1" if retain else "0")
    cmd = [sys.executable, __file__, "--child", kind, str(size), str(batch), "--repeat",
           str(repeat)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--train-size", type=int, nargs="*", default=[64],
                    help="training step sizes (none: skip training)")
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per process")
    ap.add_argument("--runs", type=int, default=2, help="processes per case and setting")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "SIZE", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        from mgpe_core.heap import retain_freed_memory

        kind, size, batch = args.child[0], int(args.child[1]), int(args.child[2])
        took = retain_freed_memory()
        res = (child_forward if kind == "forward" else child_train)(size, batch, args.repeat)
        print(json.dumps(dict(res, retained=took)))
        return

    cases = [("forward", s, b) for s in args.sizes for b in args.batches]
    cases += [("train", s, args.train_batch) for s in args.train_size]
    print(f"{'case':<8} {'size':>4} {'batch':>5} {'heap':<22} {'ms/image':>9} "
          f"{'faults/call':>12} {'x default':>9}")
    for kind, size, batch in cases:
        per = {False: [], True: []}
        for _ in range(args.runs):
            for retain in (False, True):  # taking turns
                per[retain].append(run_child(kind, size, batch, args.repeat, retain))
        base = statistics.median(r["s"] for r in per[False])
        for retain in (False, True):
            rs = per[retain]
            if retain and not all(r["retained"] for r in rs):
                print(f"{kind:<8} {size:>4} {batch:>5} retained: not glibc, skipped")
                continue
            t = statistics.median(r["s"] for r in rs)
            fl = statistics.median(r["faults"] for r in rs)
            label = "retained (mgpe CLI)" if retain else "C library default"
            print(f"{kind:<8} {size:>4} {batch:>5} {label:<22} {1000 * t / batch:>9.1f} "
                  f"{fl:>12.0f} {base / t:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
