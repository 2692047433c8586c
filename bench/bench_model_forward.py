"""One edit's forward pass (encode styles -> decode -> synthesize) on the CPU.

Compares, in the same run and on the same inputs, the plain eager fp32 forward (eval mode,
no_grad) with the fast paths: inference_mode + folded BatchNorm + channels_last, in fp32, in
bf16 autocast, and in bf16 autocast with the conv / linear weights stored in bf16 (no per-call
weight casts). Prints ms per edit, speed-up over the eager baseline and the largest absolute
difference of the output from the baseline's; then the per-image throughput of the largest batch
against the smallest. ``--compile`` adds rows with the synthesis network compiled by
``torch.compile`` (inductor, ``freezing=True``: weights prepacked for oneDNN), in fp32 and with
bf16 weights: what ``Editor(compile=True)`` / ``--compile`` do; the compile time is printed, not
counted. Each row also shows the arithmetic rate reached (GFLOP per edit counted by
``torch.utils.flop_counter``) as a share of this CPU's measured fp32 peak (a 2048 x 2048 matmul
in the same run): a path already near the peak at batch 1 cannot gain much from batching. On a
CPU without native bf16 (AVX2 only) the bf16 rows are left out: oneDNN emulates
bf16 there, many times slower than fp32 (``--bf16`` runs them anyway).

    python bench/bench_model_forward.py [--sizes 128 256] [--batches 1 8] [--width 1.0] [--compile]
                                        [--bf16] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from mgpe_core.model.build import build_generator
from mgpe_core.model.config import ModelConfig
from mgpe_core.model.optimize import prepare_for_inference


def face_batch(res: int, b: int):
    """Random images with a face-like mask (mgpe-11 ids) at ``res``."""
    import numpy as np

    from mgpe_core.labels import convert, get_schema
    from mgpe_core.testing import synthetic_face_labels

    lab = convert(synthetic_face_labels(np.random.default_rng(0), res),
                  get_schema("celebamask-19"), get_schema("mgpe-11"))
    g = torch.Generator().manual_seed(0)
    img = torch.rand(b, 3, res, res, generator=g) * 2 - 1
    labels = torch.from_numpy(lab.astype(np.int64))[None].repeat(b, 1, 1)
    return img, labels


def edit(gen, img, lab):
    enc = gen.encode(img, lab)
    feats, _ = gen.decode(enc.mu)
    return gen.synthesize(feats, img.flip(0), lab.flip(0))


def matmul_peak_gflops(device, n: int = 2048, repeat: int = 5) -> float:
    """fp32 GFLOP/s of one large matmul: the most this device's BLAS reaches (on a CPU, with
    these threads)."""
    if device.type == "cuda":
        n = 8192  # a GPU needs a larger product to fill it
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    t, _ = timed(lambda: a @ b, repeat)
    return 2 * n**3 / t / 1e9


def edit_gflop(gen, res: int, device) -> float:
    """GFLOP of one edit (batch 1), convolutions and matmuls as the flop counter counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    img, lab = (t.to(device) for t in face_batch(res, 1))
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        edit(gen, img, lab)
    return counter.get_total_flops() / 1e9


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn, repeat: int) -> tuple[float, torch.Tensor]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeat):
        _sync()
        t0 = time.perf_counter()
        out = fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--width", type=float, default=1.0, help="1.0 = the paper's channel widths")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compile", action="store_true",
                    help="add the torch.compile rows (slow to compile: ~30 s per size and batch)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    ap.add_argument("--bf16", action="store_true",
                    help="run the bf16 rows even where this CPU would emulate bf16")
    args = ap.parse_args()
    torch.manual_seed(0)
    from mgpe_core.heap import retain_freed_memory

    # as the mgpe command runs (bench/bench_allocator.py compares with the C library default)
    heap = "retained" if retain_freed_memory() else "C library default"
    from mgpe_core.device import bf16_emulation_note, resolve_device

    device = resolve_device(args.device)
    note = bf16_emulation_note("bf16", device)
    with_bf16 = args.bf16 or note is None
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU {torch.backends.cpu.get_cpu_capability()}, heap {heap}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, width {args.width}, "
          f"{where}")
    peak = matmul_peak_gflops(device)
    print(f"fp32 matmul peak: {peak:.0f} GFLOP/s")
    if not with_bf16:
        print(f"bf16 rows left out: {note.split(';')[0]} (--bf16 runs them)")
    print(f"{'size':>4} {'batch':>5} {'path':<42} {'ms/edit':>9} {'speed-up':>9} "
          f"{'max|diff|':>10} {'GFLOP/s':>8} {'of peak':>7}")
    per_image = {}
    for res in args.sizes:
        gen = build_generator(ModelConfig(resolution=res, width=args.width)).to(device).eval()
        # give BatchNorm non-trivial statistics so folding is really exercised
        with torch.no_grad():
            for m in gen.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
        fast = prepare_for_inference(gen, channels_last=True)
        gflop = edit_gflop(gen, res, device)
        print(f"({res} px: {gflop:.1f} GFLOP per edit)")
        fast_bf16w = prepare_for_inference(gen, channels_last=True, dtype=torch.bfloat16)
        compiled = {}
        if args.compile:
            for label, dtype in (("fp32", None), ("bf16 weights", torch.bfloat16)):
                if dtype is None or with_bf16:
                    c = prepare_for_inference(gen, channels_last=True, dtype=dtype)
                    c.synthesize = torch.compile(c.synthesize, dynamic=False,
                                                 options={"freezing": True})
                    compiled[label] = c
        for b in args.batches:
            img, lab = (t.to(device) for t in face_batch(res, b))
            img_cl = img.contiguous(memory_format=torch.channels_last)

            def eager(gen=gen, img=img, lab=lab):
                with torch.no_grad():
                    return edit(gen, img, lab)

            def fast_fp32(fast=fast, img=img_cl, lab=lab):
                with torch.inference_mode():
                    return edit(fast, img, lab)

            def fast_bf16(fast=fast, img=img_cl, lab=lab):
                with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
                    return edit(fast, img, lab).float()

            def fast_bf16_weights(fast=fast_bf16w, img=img_cl, lab=lab):
                with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
                    return edit(fast, img, lab).float()

            rows = [("eager fp32 (baseline)", None),
                    ("inference+folded+channels_last", fast_fp32)]
            if with_bf16:
                rows += [("  + bf16 autocast", fast_bf16),
                         ("  + bf16 weights stored", fast_bf16_weights)]
            for label, c in compiled.items():
                fn = (partial(fast_fp32, fast=c) if label == "fp32"
                      else partial(fast_bf16_weights, fast=c))
                t0 = time.perf_counter()
                fn()
                print(f"(compiling synthesis, {label}, batch {b}: "
                      f"{time.perf_counter() - t0:.1f} s)")
                rows.append((f"  + torch.compile(synthesis) {label}", fn))
            base_t, base_out = timed(eager, args.repeat)
            for name, fn in rows:
                t, out = (base_t, base_out) if fn is None else timed(fn, args.repeat)
                diff = float((out.float() - base_out).abs().max())
                per_image[(res, name, b)] = t / b
                print(f"{res:>4} {b:>5} {name:<42} {1000 * t / b:>9.1f} "
                      f"{base_t / t:>8.2f}x {diff:>10.2e} {gflop * b / t:>8.0f} "
                      f"{gflop * b / t / peak:>6.0%}")
    if len(args.batches) > 1:
        lo, hi = min(args.batches), max(args.batches)
        print(f"\nthroughput per image, batch {hi} vs batch {lo} (same path):")
        for (res, name, b), t in per_image.items():
            if b == hi:
                print(f"{res:>4} {name:<42} {per_image[(res, name, lo)] / t:>6.2f}x")


if __name__ == "__main__":
    main()
