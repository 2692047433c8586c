"""Speed of the parser's label maps: the model's parser as loaded against the folded,
channels-last copy that `Editor` and `mgpe eval` parse with (`prepare_for_inference`).

Rows: per-image milliseconds of `parse` (class weights divided out, averaged with the mirrored
photo: two forward passes per image) on random photos, median of ``--repeat`` runs after one
warm-up, the cases taking turns; the share of pixels whose label agrees with the baseline's and
the largest score difference.

    python bench/bench_parser.py [--model mgpe-synth-128] [--batches 1 16] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mgpe_core.model.optimize import prepare_for_inference
from mgpe_core.registry import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mgpe-synth-128")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    model = load_model(args.model)
    plain = model.parser.eval()
    cases = {"as loaded, eager fp32 (baseline)": plain,
             "folded BatchNorm + channels-last": prepare_for_inference(plain)}
    size = model.resolution
    print(f"{args.model}: parser at {size} px, {torch.get_num_threads()} threads, "
          f"median of {args.repeat}\n")
    print("| batch | path | ms / image | x baseline | labels equal | max score diff |")
    print("|---:|---|---:|---:|---:|---:|")
    gen = torch.Generator().manual_seed(0)
    for batch in args.batches:
        x = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
        times: dict[str, list[float]] = {name: [] for name in cases}
        with torch.inference_mode():
            ref = plain.label_scores(x)
            scores = {name: net.label_scores(x) for name, net in cases.items()}  # warm-up
            for _ in range(args.repeat):
                for name, net in cases.items():
                    t0 = time.perf_counter()
                    net.parse(x)
                    times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["as loaded, eager fp32 (baseline)"])
        for name, t in times.items():
            med = statistics.median(t)
            agree = (scores[name].argmax(1) == ref.argmax(1)).float().mean().item()
            diff = (scores[name] - ref).abs().max().item()
            print(f"| {batch} | {name} | {med / batch * 1e3:.1f} | {base / med:.2f} | "
                  f"{agree:.6f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
