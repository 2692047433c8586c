"""What the engine's style matching costs: a style edit with ``match_style`` (each style source,
and for a calibrated model such as the built-in one each target, re-rendered unchanged once,
:mod:`mgpe_core.colour_match`) against the same edit without it.

The edits: ``Editor.edit([EditRequest(target, styles={"mouth": src, "l_eye": src, "r_eye":
src})])`` with the built-in model ``mgpe-synth-128`` on built-in samples, at the model's
resolution (no paste-back):

- ``1 edit``: one target, one source (the matching adds a synthesis row each);
- ``8 edits, 8 sources``: eight targets, each restyled from another sample (as `mgpe eval`'s
  style cases: eight more rows, sixteen calibrated);
- ``8 edits, 1 source``: eight targets restyled from one sample (one more row, nine
  calibrated);
- ``cached, repeat``: the one-edit case again with ``embedding_cache=8``, after a first call
  (what `mgpe serve` does on every brush stroke: the part colours are cached, no extra row).

Rows take turns, median of ``--repeat`` calls each; ``ratio``: time with matching / without.

    python bench/bench_style_match.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it (a shared machine)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", default="mgpe-synth-128")
    args = ap.parse_args()

    import torch

    from mgpe_core.engine import Editor, EditRequest, Portrait
    from mgpe_core.labels import convert, get_schema
    from mgpe_core.registry import load_model
    from mgpe_core.samples import load_sample

    model = load_model(args.model)
    c19 = get_schema("celebamask-19")

    def sample(i):
        img, lab = load_sample(i)
        return Portrait(img, convert(lab, c19, model.schema), f"sample:{i}")

    faces = [sample(i) for i in range(12)]

    def restyle(target, src):
        return EditRequest(target, styles={"mouth": src, "l_eye": src, "r_eye": src})

    cases = {
        "1 edit": (Editor(model), [restyle(faces[0], faces[4])]),
        "8 edits, 8 sources": (Editor(model), [restyle(faces[i], faces[i + 4])
                                               for i in range(8)]),
        "8 edits, 1 source": (Editor(model), [restyle(faces[i], faces[11])
                                              for i in range(8)]),
        "cached, repeat": (Editor(model, embedding_cache=8), [restyle(faces[0], faces[4])]),
    }
    times = {(name, on): [] for name in cases for on in (False, True)}
    with torch.inference_mode():
        for editor, requests in cases.values():  # warm-up (and fill the cache)
            for on in (False, True):
                editor.edit([replace(r, match_style=on) for r in requests], batch_size=8)
        for _ in range(args.repeat):
            for name, (editor, requests) in cases.items():
                for on in (False, True):
                    batch = [replace(r, match_style=on) for r in requests]
                    t = time.perf_counter()
                    editor.edit(batch, batch_size=8)
                    times[name, on].append(time.perf_counter() - t)
    print(f"model {model.name} ({model.resolution} px), torch threads {torch.get_num_threads()}, "
          f"median of {args.repeat}")
    print("| case | without matching (ms) | with matching (ms) | ratio |")
    print("|---|---:|---:|---:|")
    for name in cases:
        off, on = (1000 * statistics.median(times[name, m]) for m in (False, True))
        print(f"| {name} | {off:.1f} | {on:.1f} | {on / off:.2f} |")


if __name__ == "__main__":
    main()
