"""Time per photo of the converted BiSeNet face parser (mgpe_core/model/bisenet.py) against the
built-in U-Net parser, in one run.

BiSeNet's real weights cannot be downloaded here; timing does not depend on the values, so the
network keeps torch's default initialisation. Rows (CPU, batch 1, median of ``--repeat`` calls
after a warm-up, rows taking turns):

* ``bisenet 512``: ``BiSeNetParser.parse`` of a photo at its native input size (512 px, what it
  was trained on);
* ``bisenet 256``: the same network with ``input_size=256`` (any size divisible by 32 works;
  faster, at a cost in detail not measured here);
* ``built-in U-Net 128``: the built-in model's parser on its 128 px crop, as ``mgpe edit``
  labels a photo without a mask (``Editor.parse``).

    python bench/bench_bisenet.py [--repeat 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the mgpe command sets it


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch

    from mgpe_core.engine import Editor
    from mgpe_core.model.bisenet import BiSeNetParser
    from mgpe_core.registry import load_model
    from mgpe_core.samples import load_sample

    torch.set_num_threads(args.threads)
    native = BiSeNetParser().eval()
    params = sum(p.numel() for p in native.parameters())
    small = BiSeNetParser(net=native.net, input_size=256).eval()
    photo = load_sample(1)[0]  # 256 px
    x = torch.from_numpy(np.ascontiguousarray(photo)).permute(2, 0, 1)[None].float() / 127.5 - 1

    editor = Editor(load_model("mgpe-synth-128"))
    rows = {"bisenet 512": lambda: native.parse(x), "bisenet 256": lambda: small.parse(x),
            "built-in U-Net 128": lambda: editor.parse([photo])}
    results = {k: [] for k in rows}
    with torch.inference_mode():
        for _ in range(3):  # rounds, rows taking turns
            for name, fn in rows.items():
                results[name].append(median_ms(fn, args.repeat))
    base = min(results["built-in U-Net 128"])
    print(f"BiSeNet parameters: {params / 1e6:.1f} M; threads {args.threads}")
    print(f"{'parser':<22}{'ms per photo':>14}{'x built-in':>12}")
    for name, values in results.items():
        ms = min(values)
        print(f"{name:<22}{ms:>14.1f}{ms / base:>12.2f}")


if __name__ == "__main__":
    main()
