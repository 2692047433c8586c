"""Per-stage time of one `mgpe edit` on a 4000 x 3000 JPEG, and what surrounds the network.

The photo: skimage's astronaut (a real photo) scaled 5x, turned 10 degrees, on a 4000 x 3000
backdrop (``mgpe_core.faces.scenes``), written as a JPEG (quality 95) to a temporary folder;
eye distance about 215 px. The edit: ``mgpe edit swap-mouth PHOTO --reference sample:6 -o
out.jpg`` with the built-in model ``mgpe-synth-128``, its stages called through the same library
functions the CLI calls, in the same order (cli/commands/edit.py: ``run_operation``,
``OpContext.load_faces`` -> ``FaceFramer``, ``_edit_job``, ``_write_results``):

- set-up: the model's entry and ``config.json`` (``find_model``, ``read_model_config``), the
  operation from the plugin registry, the framer (``framing_for``);
- decode: ``mgpe_core.io.read_image`` (JPEG decode + EXIF orientation);
- detect: ``faces.detect.find_faces`` (a 1280 px copy, one level of tiles, the mesh);
- align: ``faces.align.align_face`` to the model's framing at 128 px;
- model load: ``load_model`` + ``Editor`` (once per process: the cold column only);
- parse: ``Editor.parse`` on the crop (the model's parser);
- prepare: ``op.prepare`` (the reference sample's mask, the mouth transplanted) and the CLI's
  ``edit_region`` check;
- edit: ``Editor.edit([request], paste_back=False)``: the networks at 128 px and the blend of
  the crop (the network's own edit);
- warp back + blend: ``faces.framer.put_back`` into the 12 Mpx photo;
- mask back: ``faces.framer.mask_back`` (the photo-sized mask ``_edit_job`` builds for
  ``--save-mask`` / ``--compare``; built on every edit);
- encode: ``mgpe_core.io.write_image`` to a .jpg (quality 95, 4:4:4).

Warm: median of ``--repeat`` runs in this process after one warm-up run (the model loaded
once). Cold: a fresh process timing its first run, each stage including the imports it is the
first to need and the models it loads (mediapipe's graphs, the networks); median of ``--cold``
processes. End to end: the ``mgpe`` command in a fresh process (median of ``--cold``), beside
the same edit of a built-in sample (``sample:0``, no photo, a 128 px PNG) and ``python -c
"import torch"``; the script checks that the command's output has the same pixels as the
stages' (decoded JPEGs compared).

The target: everything around the network (the sum of the warm non-edit stages) costs less than
the network's own edit at 128 px (the warm edit stage): ratio < 1.

    python bench/bench_photo_edit.py [--repeat 5] [--cold 3]
"""

from __future__ import annotations

import os

# as the `mgpe` command does for its process (cli/main.py), before torch is imported
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

MODEL = "mgpe-synth-128"
REFERENCE = "sample:6"
PHOTO_HW = (3000, 4000)
STAGES = ("set-up", "decode", "detect", "align", "model load", "parse", "prepare", "edit",
          "warp back + blend", "mask back", "encode")
#: stages that run once per process (not per edit): left out of the warm sum
ONCE = ("model load",)
EDIT = "edit"
ROOT = Path(__file__).resolve().parents[1]


def make_photo(path: Path, hw: tuple[int, int] = PHOTO_HW, scale: float = 5.0) -> None:
    """The astronaut scaled ``scale``x, turned 10 degrees, on an ``hw`` backdrop; JPEG q95."""
    import numpy as np
    from skimage.data import astronaut

    from mgpe_core.faces import scenes
    from mgpe_core.faces.warp import warp_affine
    from mgpe_core.io import write_image

    canvas = scenes.background(hw, seed=11)
    centre = (hw[1] * 0.525, hw[0] * 0.5)
    m = scenes.placement(512, centre, scale, 10.0)
    pixels = warp_affine(astronaut(), m, hw, pad="edge")
    cover = warp_affine(np.ones((512, 512), np.float32), m, hw, pad="zero") > 0.5
    canvas[cover] = pixels[cover]
    write_image(path, canvas, quality=95)


class Pipeline:
    """The CLI's steps for one photo, one stage per method call; the editor is kept between
    runs (as one process keeps it), everything else is made again each run."""

    def __init__(self) -> None:
        self.editor = None

    def run(self, photo_path: Path, out: Path) -> dict[str, float]:
        t: dict[str, float] = {}
        clock = time.perf_counter

        t0 = clock()
        from mgpe_core.faces.framing import framing_for
        from mgpe_core.model.config import MgpeConfig
        from mgpe_core.operations import OpContext, mask_path_beside
        from mgpe_core.plugins import get_operation
        from mgpe_core.registry import find_model, read_model_config

        entry = find_model(MODEL)
        meta = read_model_config(entry.path)
        config = MgpeConfig.from_dict(meta["config"])
        schema = config.model.label_schema
        op = get_operation("swap-mouth")
        framing = framing_for(config.model)
        size = config.model.resolution
        t["set-up"] = clock() - t0

        t0 = clock()
        from mgpe_core.io import read_image

        photo = read_image(photo_path)
        assert not mask_path_beside(photo_path).exists()
        t["decode"] = clock() - t0

        t0 = clock()
        from mgpe_core.faces.detect import find_faces

        faces = find_faces(photo)
        t["detect"] = clock() - t0

        t0 = clock()
        from mgpe_core.faces.align import align_face
        from mgpe_core.faces.framer import FramedPortrait

        aligned = align_face(photo, faces[0], size, framing)
        target = FramedPortrait(aligned.image, None, str(photo_path), photo=photo,
                                aligned=aligned, face=faces[0], face_index=0, photo_labels=None)
        t["align"] = clock() - t0

        t0 = clock()
        if self.editor is None:
            from mgpe_core.device import resolve_device
            from mgpe_core.engine import Editor
            from mgpe_core.registry import load_model

            dev = resolve_device("cpu")
            self.editor = Editor(load_model(entry.name, device=dev), device=dev,
                                 precision="fp32", compile=False)
        editor = self.editor
        t["model load"] = clock() - t0

        t0 = clock()
        target.labels = editor.parse([target.image])[0]
        t["parse"] = clock() - t0

        t0 = clock()
        from mgpe_core.engine import edit_region

        ctx = OpContext(schema, config, parse=editor.parse, seed=0)
        requests = op.prepare(ctx, target, reference=REFERENCE)
        assert any(edit_region(r, schema).any() for r in requests)
        t["prepare"] = clock() - t0

        t0 = clock()
        (res,) = editor.edit(requests, paste_back=False)
        t[EDIT] = clock() - t0

        t0 = clock()
        from mgpe_core.faces.framer import mask_back, put_back

        (req,) = requests
        region = edit_region(req, editor.schema)  # keep_unedited: the default
        result = put_back(photo, req.target, res.model_image, region)
        t["warp back + blend"] = clock() - t0

        t0 = clock()
        mask = mask_back(None, req.target, res.mask)
        t["mask back"] = clock() - t0
        assert mask.shape == photo.shape[:2]

        t0 = clock()
        from mgpe_core.io import write_image

        write_image(out, result)
        t["encode"] = clock() - t0
        return t


def io_parts(photo_path: Path, repeat: int) -> dict[str, float]:
    """Median seconds of what decode and encode are made of: PIL's own JPEG decode and encode
    (libjpeg-turbo) and the copies between PIL and numpy around them."""
    import io

    import numpy as np
    from PIL import Image, ImageOps

    from mgpe_core.io import read_image

    pixels = read_image(photo_path)
    pil = Image.fromarray(pixels)

    def decode():
        with Image.open(photo_path) as img:
            img.load()

    def decode_lean():  # no EXIF copy, no RGB -> RGB convert copy
        img = Image.open(photo_path)
        img.load()
        ImageOps.exif_transpose(img, in_place=True)
        return np.asarray(img)

    def encode():
        pil.save(io.BytesIO(), format="JPEG", quality=95, subsampling=0)

    def encode_420():
        pil.save(io.BytesIO(), format="JPEG", quality=95, subsampling=2)

    cases = {
        "`read_image` (the decode stage's call)": lambda: read_image(photo_path),
        "PIL JPEG decode alone (`Image.open` + `load`)": decode,
        "decode + `np.asarray`, without read_image's two extra copies (EXIF in place, no "
        "RGB -> RGB convert)":
            decode_lean,
        "numpy -> PIL (`Image.fromarray` of the photo: RGB -> PIL's 4-byte pixels)":
            lambda: Image.fromarray(pixels),
        "PIL JPEG encode alone (q95, 4:4:4 as write_image)": encode,
        "PIL JPEG encode, q95 4:2:0 (not what mgpe writes)": encode_420,
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for f in cases.values():
        f()
    for _ in range(repeat):
        for name, f in cases.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    assert np.array_equal(decode_lean(), pixels)
    return {k: statistics.median(v) for k, v in times.items()}


def median_of(runs: list[dict[str, float]], stage: str) -> float:
    return statistics.median(r[stage] for r in runs)


def run_cli(args: list[str]) -> float:
    """Wall seconds of a fresh process (the command must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def mgpe_command() -> list[str]:
    exe = Path(sys.executable).with_name("mgpe")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("mgpe")
    return [found] if found else [sys.executable, "-m", "mgpe_cli.main"]


def machine() -> str:
    import numpy
    import PIL
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({cpu}); Python {platform.python_version()}, torch "
            f"{torch.__version__} ({torch.get_num_threads()} threads), numpy "
            f"{numpy.__version__}, Pillow {PIL.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="warm runs (after one warm-up)")
    ap.add_argument("--cold", type=int, default=3, help="fresh processes per cold figure")
    ap.add_argument("--size", type=int, nargs=2, default=list(PHOTO_HW), metavar=("H", "W"),
                    help="photo height and width (the astronaut's scale follows the height)")
    ap.add_argument("--cold-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    from mgpe_core.heap import retain_freed_memory

    retain_freed_memory()  # as the `mgpe` command does for its process
    if args.cold_child:
        print(json.dumps(Pipeline().run(*args.cold_child)))
        return

    import numpy as np

    from mgpe_core.io import read_image

    hw = (args.size[0], args.size[1])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photo = tmp / "photo.jpg"
        make_photo(photo, hw, scale=5.0 * hw[0] / PHOTO_HW[0])
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cold = []
        for k in range(args.cold):
            proc = subprocess.run([sys.executable, __file__, "--cold-child", str(photo),
                                   str(tmp / f"cold{k}.jpg")], capture_output=True, text=True,
                                  check=True, env=env, cwd=ROOT)
            cold.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        pipe = Pipeline()
        pipe.run(photo, tmp / "warm.jpg")  # warm-up: models and graphs loaded
        warm = [pipe.run(photo, tmp / "warm.jpg") for _ in range(args.repeat)]

        mgpe = mgpe_command()
        ends: dict[str, list[float]] = {"torch": [], "sample": [], "photo": []}
        for _ in range(args.cold):  # rows taking turns
            ends["torch"].append(run_cli([sys.executable, "-c", "import torch"]))
            ends["sample"].append(run_cli(mgpe + ["edit", "swap-mouth", "sample:0",
                                                  "--reference", REFERENCE, "--model", MODEL,
                                                  "-o", str(tmp / "sample.png")]))
            ends["photo"].append(run_cli(mgpe + ["edit", "swap-mouth", str(photo),
                                                 "--reference", REFERENCE, "--model", MODEL,
                                                 "-o", str(tmp / "cli.jpg")]))
        parts = io_parts(photo, args.repeat)
        same = np.array_equal(read_image(tmp / "cli.jpg"), read_image(tmp / "warm.jpg"))
        diff = int(np.abs(read_image(tmp / "cli.jpg").astype(int)
                          - read_image(tmp / "warm.jpg").astype(int)).max())
        photo_mb = photo.stat().st_size / 1e6

    print(f"`mgpe edit swap-mouth PHOTO --reference {REFERENCE} -o out.jpg`, {MODEL}; photo "
          f"{hw[1]} x {hw[0]} JPEG q95 ({photo_mb:.1f} MB). Warm: median of {args.repeat} runs "
          f"in one process after a warm-up; cold: median of {args.cold} fresh processes' "
          f"first run.\n{machine()}\n")
    print("| stage | warm ms | cold ms | share of warm |")
    print("|---|---:|---:|---:|")
    warm_total = sum(median_of(warm, s) for s in STAGES if s not in ONCE)
    for s in STAGES:
        w = median_of(warm, s) * 1e3
        c = median_of(cold, s) * 1e3
        if s in ONCE:
            print(f"| {s} | (once per process) | {c:.0f} | - |")
        else:
            print(f"| {s} | {w:.1f} | {c:.0f} | {w / 1e3 / warm_total:.1%} |")
    cold_total = statistics.median(sum(r.values()) for r in cold)
    print(f"| **total** | {warm_total * 1e3:.0f} | {cold_total * 1e3:.0f} | 100% |")

    edit = median_of(warm, EDIT)
    around = warm_total - edit
    ratio = around / edit
    verdict = "met" if ratio < 1 else "missed"
    print(f"\nTarget: everything around the network < the network's own edit at "
          f"{128} px (warm): {around * 1e3:.0f} ms around vs {edit * 1e3:.0f} ms edit, "
          f"ratio {ratio:.2f} -> **{verdict}**.")
    biggest = sorted(((median_of(warm, s), s) for s in STAGES if s not in ONCE and s != EDIT),
                     reverse=True)[:3]
    print("Largest non-edit stages (warm): " + ", ".join(f"{s} {v * 1e3:.0f} ms ({v / edit:.2f}x"
                                                         " the edit)" for v, s in biggest))

    parse = median_of(warm, "parse")
    print(f"Without the parser (a network too): {(around - parse) * 1e3:.0f} ms around, ratio "
          f"{(around - parse) / edit:.2f}.")
    print(f"\nDecode and encode, their parts (warm, median of {args.repeat}):\n")
    print("| part | ms | x the edit |")
    print("|---|---:|---:|")
    for name, seconds in parts.items():
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / edit:.2f} |")

    base = statistics.median(ends["sample"])
    print(f"\nEnd to end, fresh processes, median of {args.cold} (rows taking turns):\n")
    print("| command | median s | x sample edit |")
    print("|---|---:|---:|")
    rows = [("`python -c \"import torch\"`", ends["torch"]),
            (f"`mgpe edit swap-mouth sample:0 --reference {REFERENCE} -o out.png` (baseline: "
             "a 128 px sample, no photo)", ends["sample"]),
            (f"`mgpe edit swap-mouth photo.jpg --reference {REFERENCE} -o out.jpg` "
             f"({hw[1]} x {hw[0]})", ends["photo"])]
    for name, times in rows:
        med = statistics.median(times)
        print(f"| {name} | {med:.2f} | {med / base:.2f} |")
    print(f"\nThe command's out.jpg against the stages' (decoded): "
          f"{'identical pixels' if same else f'max abs diff {diff}'}.")


if __name__ == "__main__":
    main()
