"""Edit time of a converted ``original`` model (the authors' MGPE release) against mgpe's own
architecture at the same resolution, in one run.

* ``original``: the stand-in release (every tensor from the reference key tables with the weight
  rule, ``tests/test_original_mgpe.py``'s helpers; the real weights are never used), saved as the
  release saves them, converted with ``convert_original`` into a throwaway MGPE_HOME and loaded
  with ``load_model`` (163.6 M parameters, 256 px, networks as converted: no BatchNorm folding).
* ``mgpe-256``: mgpe's generator with the default config at resolution 256 (random weights),
  written as a model folder and loaded the same way; timed as ``Editor`` runs it by default
  (``fast``: BatchNorm folded, channels-last) and with ``fast=False`` (as converted, like the
  original).

The edit is one request at batch 1 on the CPU, what ``mgpe edit swap-mouth sample:0 --reference
sample:4`` asks for: sample 0 as target, its mouth (mask and style) from sample 4, the keep-
unedited blend. Each row: ``Editor.edit`` after one warm-up call, median of ``--repeat`` calls,
the rows taking turns so background load hits them alike. Parameter counts are the generators'
(the parser is not used: the samples carry masks).

    python bench/bench_original.py [--repeat 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _rule_helpers():
    """tests/test_original_mgpe.py as a module: the weight rule and the legacy save."""
    spec = importlib.util.spec_from_file_location("test_original_mgpe",
                                                  ROOT / "tests" / "test_original_mgpe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not module.REF.is_dir():
        sys.exit(f"reference fixtures not found: {module.REF}")
    return module


def build_models(home: Path) -> None:
    """``original`` (converted stand-in release) and ``mgpe-256`` in ``home/models``."""
    import torch

    from mgpe_core.convert.original import convert_original
    from mgpe_core.model.build import build_networks
    from mgpe_core.model.config import MgpeConfig
    from mgpe_core.model.original import USED_FILES
    from mgpe_core.registry import write_model_folder

    rules = _rule_helpers()
    release = home / "pretrained"
    release.mkdir()
    for label in USED_FILES:
        rules._save_legacy(rules.rule_state(label), release / f"latest_net_{label}.pth")
    convert_original(release, home / "models", "original", report=lambda s: None)
    for f in release.iterdir():
        f.unlink()
    torch.manual_seed(0)
    cfg = MgpeConfig.from_dict({"model": {"resolution": 256}}, recorded=False)  # today's defaults
    nets = build_networks(cfg.model)
    write_model_folder(home / "models" / "mgpe-256",
                       {"name": "mgpe-256", "config": cfg.to_dict(), "licence": "test"},
                       {"generator": nets.generator.state_dict()})


def request():
    from mgpe_core.engine import EditRequest, Portrait
    from mgpe_core.labels import convert, get_schema
    from mgpe_core.samples import load_sample

    m11, c19 = get_schema("mgpe-11"), get_schema("celebamask-19")
    (img0, lab0), (img4, lab4) = load_sample(0), load_sample(4)
    target = Portrait(img0, convert(lab0, c19, m11), "sample:0")
    ref = Portrait(img4, convert(lab4, c19, m11), "sample:4")
    mouth = m11.ids(["u_lip", "mouth", "l_lip"])
    mask = target.labels.copy()
    mask[np.isin(mask, mouth)] = m11.index("skin")
    mask[np.isin(ref.labels, mouth)] = ref.labels[np.isin(ref.labels, mouth)]
    return EditRequest(target, mask=mask, styles={"mouth": ref})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from mgpe_core.engine import Editor
    from mgpe_core.registry import load_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-original-") as tmp:
        home = Path(tmp)
        os.environ["MGPE_HOME"] = str(home)
        t = time.perf_counter()
        build_models(home)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        original = load_model("original")
        load_s = time.perf_counter() - t
        mgpe = load_model("mgpe-256")
        editors = {"original (as converted)": Editor(original),
                   "mgpe-256, fast (default)": Editor(mgpe),
                   "mgpe-256, fast=False": Editor(mgpe, fast=False)}
        req = request()
        times: dict[str, list[float]] = {k: [] for k in editors}
        for ed in editors.values():
            ed.edit([req])  # warm-up
        for _ in range(args.repeat):
            for name, ed in editors.items():
                t = time.perf_counter()
                ed.edit([req])
                times[name].append(time.perf_counter() - t)
        params = {"original": sum(p.numel() for p in original.generator.parameters()),
                  "mgpe-256": sum(p.numel() for p in mgpe.generator.parameters())}
    base = statistics.median(times["mgpe-256, fast (default)"])
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, CPU, median of "
          f"{args.repeat}; stand-in release built + converted in {build_s:.1f} s, original "
          f"loaded (verified) in {load_s:.1f} s")
    print(f"parameters: original {params['original'] / 1e6:.1f} M, mgpe-256 "
          f"{params['mgpe-256'] / 1e6:.1f} M (x{params['original'] / params['mgpe-256']:.2f})")
    print("| model | edit (ms) | x mgpe-256 fast |")
    print("|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med * 1000:.0f} | {med / base:.2f} |")


if __name__ == "__main__":
    main()
