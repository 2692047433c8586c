"""Training throughput: images/s of the full step (generator paired + unpaired branches,
parsing loss, discriminator step, EMA) on this machine's CPU (or --device cuda).

Baseline in the same run: fp32 with the standard (NCHW) memory layout; compared with
channels-last networks and batches (``train.channels_last``, the default) and bf16 autocast
(left out on a CPU without native bf16, where oneDNN emulates it many times slower; ``--bf16``
runs it anyway). ``--disc-channels 64 32`` compares discriminator widths instead
(``model.discriminator.base_channels``; channels-last fp32, the first width the baseline).
Networks are today's defaults (a config written now, not a recorded one) at the given width
and latent size, with the U-Net parser of the built-in models (base 16, depth 4), in schema
mgpe-13. Uses a small generated prepared folder and a randomly initialised parser (speed does
not depend on the weights). The heap is retained as the ``mgpe`` command does
(``mgpe_core.heap``).

    python bench/bench_train.py [--sizes 64 128] [--width 0.25] [--latent 256] [--batch 8]
                                [--steps 6] [--rounds 2] [--device cuda] [--bf16]
                                [--disc-channels 64 32]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mgpe_core.device import resolve_device
from mgpe_core.labels import get_schema
from mgpe_core.model.build import build_parser
from mgpe_core.model.config import MgpeConfig
from mgpe_core.testing import make_prepared_folder
from mgpe_core.train.parser_io import save_parser
from mgpe_core.train.trainer import Trainer
from mgpe_core.typed_config import from_dict


def measure(cfg: MgpeConfig, data: Path, parser: Path, device, steps: int) -> float:
    with tempfile.TemporaryDirectory() as run:
        trainer = Trainer(cfg, data, Path(run), parser, device, log=lambda *a: None)
        batches = trainer.batches()
        times = []
        for i in range(steps + 1):
            images, labels = next(batches)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            trainer.train_step(images, labels)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:  # the first step warms up
                times.append(time.perf_counter() - t0)
        return cfg.train.batch / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--latent", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6, help="timed steps per measurement")
    ap.add_argument("--rounds", type=int, default=2,
                    help="measurements per case, the cases taking turns (median)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--disc-channels", type=int, nargs="+", default=None,
                    help="compare these discriminator base widths (fp32, channels-last)")
    ap.add_argument("--bf16", action="store_true",
                    help="run the bf16 rows even where this CPU would emulate bf16")
    args = ap.parse_args()
    from mgpe_core.heap import retain_freed_memory
    from mgpe_core.train.distributed import bf16_emulation_note

    heap = "retained" if retain_freed_memory() else "C library default"
    device = resolve_device(args.device)
    note = bf16_emulation_note("bf16", device)
    precisions = ("fp32", "bf16") if args.bf16 or note is None else ("fp32",)
    schema = get_schema("mgpe-13")
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"width {args.width}, latent {args.latent}, batch {args.batch}, heap {heap}")
    if args.disc_channels:
        cases = [("fp32", True, c) for c in args.disc_channels]
    else:
        if "bf16" not in precisions:
            print(f"bf16 rows left out: {note.split(';')[0]} (--bf16 runs them)")
        disc = MgpeConfig().model.discriminator.base_channels
        cases = [("fp32", False, disc), ("fp32", True, disc)] + [
            ("bf16", True, disc) for p in precisions if p == "bf16"]
    print(f"{'size':>4} {'precision':<10} {'layout':<14} {'D base':>6} {'images/s':>9} "
          f"{'x baseline':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            data = Path(tmp) / f"data{size}"
            make_prepared_folder(data, count=max(4 * args.batch, 16), size=size,
                                 schema_name=schema.name, seed=0)
            results: dict[tuple, list[float]] = {c: [] for c in cases}
            for _ in range(args.rounds):  # cases take turns: load changes hit them alike
                for case in cases:
                    precision, channels_last, disc = case
                    cfg = from_dict(MgpeConfig, {
                        "model": {"resolution": size, "width": args.width,
                                  "latent_dim": args.latent, "schema": schema.to_dict(),
                                  "parser": {"base_channels": 16, "depth": 4},
                                  "discriminator": {"base_channels": disc}},
                        "train": {"batch": args.batch, "precision": precision,
                                  "channels_last": channels_last,
                                  "sample_every": 10**9, "checkpoint_every": 10**9},
                    }, recorded=False)
                    parser_dir = Path(tmp) / f"parser{size}"
                    if not parser_dir.exists():
                        save_parser(parser_dir, build_parser(cfg.model), cfg.model.parser,
                                    schema, size)
                    results[case].append(measure(cfg, data, parser_dir, device, args.steps))
            base = statistics.median(results[cases[0]])
            for case, runs in results.items():
                precision, channels_last, disc = case
                ips = statistics.median(runs)
                layout = "channels-last" if channels_last else "NCHW"
                label = f"{layout}{' (base)' if case == cases[0] else ''}"
                print(f"{size:>4} {precision:<10} {label:<14} {disc:>6} {ips:>9.2f} "
                      f"{ips / base:>9.2f}x", flush=True)


if __name__ == "__main__":
    main()
