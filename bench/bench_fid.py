"""FID feature extraction speed (the Inception forward, 299x299) on the CPU.

Random weights (speed does not depend on their values). Baseline: batch 1, fp32, contiguous,
the default thread count; other rows: larger batches, channels_last memory format, no_grad
instead of inference_mode, and one thread (on a shared machine, torch's default threads can
fight another process for the cores). Prints images/s, the ratio to the baseline and the largest
feature difference from the baseline's features. Also times ``frechet_distance`` at 2048 dims.

    python bench/bench_fid.py [--batches 1 8 32] [--images 32] [--threads 0 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mgpe_core.metrics.fid import frechet_distance, statistics
from mgpe_core.metrics.inception import FIDInception, randomize_, resize_input


def run_features(model, images, batch, channels_last, grad_mode):
    out = []
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        if grad_mode == "inference_mode":
            out.append(model.features(x))  # converts to channels_last itself when set
        else:
            with torch.no_grad():
                x = resize_input(x) * 2 - 1
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                out.append(model(x))
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--images", type=int, default=32,
                    help="images per measurement (batch 1 uses at most 8)")
    ap.add_argument("--threads", type=int, nargs="+", default=[0, 1],
                    help="torch threads; 0 = torch's default")
    args = ap.parse_args()
    default_threads = torch.get_num_threads()
    model = randomize_(FIDInception())
    model_cl = randomize_(FIDInception()).use_channels_last()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(max(args.images, max(args.batches)), 3, 299, 299, generator=g)
    print(f"torch {torch.__version__}, default threads {default_threads}, input 299x299")
    print(f"{'threads':>7} {'batch':>5} {'variant':<28} {'images/s':>9} {'x base':>7} "
          f"{'max|diff|':>10}")
    base_rate = None
    reference = None
    for threads in args.threads:
        torch.set_num_threads(threads or default_threads)
        for batch in args.batches:
            n = min(args.images, 8) if batch == 1 else max(args.images, batch)
            n -= n % batch
            variants = [("fp32 inference_mode", model, False, "inference_mode"),
                        ("fp32 no_grad", model, False, "no_grad"),
                        ("fp32 channels_last", model_cl, True, "inference_mode")]
            for name, net, cl, mode in variants:
                run_features(net, images[:batch], batch, cl, mode)  # warm-up
                t0 = time.perf_counter()
                feats = run_features(net, images[:n], batch, cl, mode)
                rate = n / (time.perf_counter() - t0)
                if reference is None:
                    reference = feats
                    base_rate = rate
                k = min(len(feats), len(reference))
                diff = (feats[:k] - reference[:k]).abs().max().item()
                print(f"{threads or default_threads:>7} {batch:>5} {name:<28} {rate:>9.2f} "
                      f"{rate / base_rate:>7.2f} {diff:>10.2e}", flush=True)
    torch.set_num_threads(default_threads)
    rng = np.random.default_rng(0)
    mu1, s1 = statistics(rng.normal(size=(4096, 2048)))
    mu2, s2 = statistics(rng.normal(size=(4096, 2048)) * 1.1)
    t0 = time.perf_counter()
    value = frechet_distance(mu1, s1, mu2, s2)
    print(f"frechet_distance at 2048 dims (full-rank covariances): "
          f"{time.perf_counter() - t0:.2f} s (FID {value:.3f})")


if __name__ == "__main__":
    main()
