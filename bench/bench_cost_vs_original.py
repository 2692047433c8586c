"""Work and time of mgpe's 256 px generator against the ``original`` architecture, in one run
(issue 23: "less work than the original for the same job").

Rows (random weights, paper widths, 256 px, fp32, eval-mode networks as built: no BatchNorm
folding, NCHW, the same treatment for every row):

* ``original``: :class:`mgpe_core.model.original.OriginalMGPE` as mgpe's converter builds it
  (``load_original`` of a state dict), run batched over the same path as its ``edit``
  (encoders -> feature decoders -> E_m, G_m, background encoder, fusing); for the training
  proxy also the five image decoders of the release (``decoder_*_image``, built here from the
  reference SPEC: test time never loads them);
* ``mgpe legacy``: ``ModelConfig`` with every issue-23 choice at its legacy value
  (``upsample=transpose, fuse=resblocks, mask_encoder_kernel=4, feature_head_kernel=3``,
  ``res_blocks=9``, ``background_skip=false``): the architecture of every model trained before;
* ``mgpe new``: ``ModelConfig()`` (``resize``, ``light``, 3, 1, 3 residual blocks, the background
  gate);
* ``mgpe new, transpose`` (``--extra``): the new defaults but transposed-conv upsampling (what the
  checkerboard cure costs);
* with ``--res-blocks N``: ``mgpe new`` with N residual blocks in G_m (``--res-blocks 9``:
  the paper's depth with the other new choices).

Measures:

* GFLOP per edit at batch 4 (``torch.utils.flop_counter.FlopCounterMode``): the generator's
  encode + decode + synthesize path of an edit (mgpe: ``encode``, ``decode`` under no_grad,
  i.e. without the image heads, ``synthesize``), multiply-add = 2 FLOP;
* edit wall time at batch 1 and 4, and a **training-step proxy**: forward + backward of the
  generator alone (local encoders with the reparameterisation trick, feature and image
  decoders, G) on a paired + unpaired batch of 2 x ``--train-batch`` faces, loss = L1(output,
  target) + L1(component reconstructions, crops): no discriminator, parser or optimizer, the
  same for both architectures;
* ``torch.set_num_threads(--threads)``, one warm-up per measurement, then ``--repeats`` rounds
  in which every row takes its turn (interleaved); minima reported.

    python bench/bench_cost_vs_original.py [--repeats 2] [--threads 2] [--extra]
        [--res-blocks 9] [--train-flops] [--no-time]

Default runtime on the project's 2-core CPU machines: about 4-5 minutes.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

RES = 256
EDIT_BATCHES = (1, 4)
#: every model trained before issue 23: what a config without the keys builds (no gate either)
LEGACY = {"upsample": "transpose", "fuse": "resblocks", "mask_encoder_kernel": 4,
          "feature_head_kernel": 3, "res_blocks": 9, "background_skip": False}


# -- inputs ----------------------------------------------------------------------------------------


def face_labels(b: int) -> torch.Tensor:
    """A blocky face whose component boxes sit inside the original's strict ranges."""
    from mgpe_core.testing import blocky_face_labels

    return blocky_face_labels(b, RES)


def inputs(b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, RES, RES, generator=g) * 2 - 1, face_labels(b)


# -- the original, batched -------------------------------------------------------------------------


class ImageDecoder(nn.Module):
    """A release image decoder (``latest_net_decoder_<part>_image``, reference SPEC section 3):
    Linear, reshape, ConvT(4, 2, 1) + BN + ReLU blocks, RefPad(2), 5x5 conv to RGB, tanh."""

    def __init__(self, size, channels, bias=True, latent=512):
        super().__init__()
        self.size = size
        self.fc = nn.Linear(latent, channels[0] * size[0] * size[1], bias=bias)
        layers = []
        for a, b in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(2), nn.Conv2d(channels[-1], 3, 5), nn.Tanh()]
        self.conv = nn.Sequential(*layers)

    def forward(self, z):
        return self.conv(self.fc(z).reshape(z.shape[0], -1, *self.size))


_IMAGE_DECODERS = {
    "l_eye": ((2, 3), (512, 256, 128, 64, 64), False),
    "r_eye": ((2, 3), (512, 256, 128, 64, 64), False),
    "mouth": ((5, 9), (512, 256, 128, 64, 64), True),
    "skin": ((2, 2), (512, 512, 512, 512, 512, 256, 128, 64), True),
    "hair": ((2, 2), (512, 512, 512, 512, 512, 256, 128, 64), True),
}
_FILE = {"l_eye": "left_eye", "r_eye": "right_eye", "mouth": "mouth", "skin": "skin",
         "hair": "hair"}


class OriginalRunner:
    """The original's edit path over a batch: the same networks and operations as
    ``OriginalMGPE.encode / decode / synthesize`` (which take one face), with the crops and
    canvas positions of the bench's fixed labels."""

    def __init__(self):
        from mgpe_core.convert.original import load_original
        from mgpe_core.model.original import OriginalMGPE

        torch.manual_seed(0)
        self.net = load_original(OriginalMGPE().state_dict())  # as the converter builds it
        self.image_decoders = nn.ModuleDict(
            {p: ImageDecoder(*a) for p, a in _IMAGE_DECODERS.items()})

    def modules(self):
        return [self.net, self.image_decoders]

    def parameters(self, edit_only=True):
        mods = [self.net] if edit_only else self.modules()
        return sum(p.numel() for m in mods for p in m.parameters())

    @staticmethod
    def _setup(labels):
        from mgpe_core.model.original import CENTRED, CROP_HALF, PART_CLASSES, component_centres

        centres = component_centres(labels[0].numpy())
        boxes = {}
        for i, part in enumerate(CENTRED):
            cy, cx = int(centres[2 * i]), int(centres[2 * i + 1])
            hh, hw = CROP_HALF[part]
            boxes[part] = (cy, cx, slice(cy - hh, cy + hh), slice(cx - hw, cx + hw))
        masks = {p: torch.isin(labels, torch.tensor(c)).unsqueeze(1).float()
                 for p, c in PART_CLASSES.items()}
        masks["background"] = (labels == 0).unsqueeze(1).float()
        return boxes, masks

    def crops(self, x, labels):
        boxes, masks = self._setup(labels)
        out = {}
        for part in ("l_eye", "r_eye", "mouth"):
            _, _, ys, xs = boxes[part]
            out[part] = x[:, :, ys, xs] * (masks["mouth"][:, :, ys, xs] if part == "mouth"
                                           else 1)
        out["skin"], out["hair"] = x * masks["skin"], x * masks["hair"]
        return out

    def encode(self, x, labels, sample=False):
        mus, logvars = {}, {}
        for part, crop in self.crops(x, labels).items():
            mus[part], logvars[part] = getattr(self.net, f"encoder_{_FILE[part]}")(crop)
        if sample:
            mus = {k: m + torch.randn_like(m) * (0.5 * logvars[k]).exp() for k, m in mus.items()}
        return mus

    def decode(self, mus):
        return {p: getattr(self.net, f"decoder_{_FILE[p]}")(mus[p]) for p in mus}

    def synthesize(self, feats, x, labels):
        from mgpe_core.model.original import FEATURE_SIZE

        g = self.net.G
        boxes, masks = self._setup(labels)
        canvases = []
        for part in ("l_eye", "r_eye", "mouth"):
            cy, cx, _, _ = boxes[part]
            r, q = int(cy / 4 + 0.5), int(cx / 4 + 0.5)
            ph, pw = FEATURE_SIZE[part]
            f = feats[part]
            canvas = f.new_zeros(f.shape[0], f.shape[1], RES // 4, RES // 4)
            canvas[:, :, r - ph // 2:r - ph // 2 + ph, q - pw // 2:q - pw // 2 + pw] = f
            canvases.append(canvas)
        onehot = F.one_hot(labels, 11).permute(0, 3, 1, 2).float()
        em = g.downsample_model(onehot)
        gm = g.model(torch.cat([em, canvases[0], canvases[1], feats["skin"], feats["hair"],
                                canvases[2]], 1))
        bg = g.bg_encoder(x) * masks["background"]
        return g.bg_decoder(torch.cat([gm, bg], 1))

    def edit(self, x, labels):
        return self.synthesize(self.decode(self.encode(x, labels)), x, labels)

    def train_loss(self, src, src_lab, tgt, tgt_lab):
        mus = self.encode(src, src_lab, sample=True)
        out = self.synthesize(self.decode(mus), tgt, tgt_lab)
        crops = self.crops(src, src_lab)
        local = sum(F.l1_loss(self.image_decoders[p](mus[p]), crops[p]) for p in mus)
        return F.l1_loss(out, tgt) + local


class MgpeRunner:
    def __init__(self, **changes):
        from mgpe_core.model.config import ModelConfig
        from mgpe_core.model.generator import MGPEGenerator

        torch.manual_seed(0)
        # ModelConfig(...), not from_dict: a dict without the issue-23 keys would be a config
        # written before them, which takes their legacy values
        self.cfg = ModelConfig(resolution=RES, **changes)
        self.g = MGPEGenerator(self.cfg)

    def modules(self):
        return [self.g]

    def parameters(self, edit_only=True):
        n = sum(p.numel() for p in self.g.parameters())
        if edit_only:  # the image heads only serve L_local
            n -= sum(p.numel() for a in self.g.local.values() for p in a.image_head.parameters())
        return n

    def edit(self, x, labels):
        enc = self.g.encode(x, labels)
        feats, _ = self.g.decode(enc.mu)  # under no_grad: no image heads
        return self.g.synthesize(feats, x, labels)

    def train_loss(self, src, src_lab, tgt, tgt_lab):
        out = self.g(src, src_lab, tgt, tgt_lab, sample=True)
        local = sum(F.l1_loss(out["recons"][k], out["crops"][k]) for k in out["recons"])
        return F.l1_loss(out["image"], tgt) + local


# -- measurements ----------------------------------------------------------------------------------


def set_mode(runner, train: bool):
    for m in runner.modules():
        m.train(train)


def gflop_per_edit(runner, b: int = 4) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x, lab = inputs(b)
    set_mode(runner, False)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        runner.edit(x, lab)
    return fc.get_total_flops() / 1e9


def gflop_train(runner, b: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    batch = train_batch(b)
    set_mode(runner, True)
    with FlopCounterMode(display=False) as fc:
        runner.train_loss(*batch).backward()
    zero_grads(runner)
    return fc.get_total_flops() / 1e9


def train_batch(b: int):
    """Paired (each face from itself) + unpaired (styles of the next face): 2b rows."""
    x, lab = inputs(b)
    perm = torch.roll(torch.arange(b), 1)
    return (torch.cat([x, x[perm]]), torch.cat([lab, lab[perm]]), torch.cat([x, x]),
            torch.cat([lab, lab]))


def zero_grads(runner):
    for m in runner.modules():
        for p in m.parameters():
            p.grad = None


def time_edit(runner, b: int) -> float:
    x, lab = inputs(b)
    set_mode(runner, False)
    with torch.no_grad():
        t = time.perf_counter()
        runner.edit(x, lab)
        return time.perf_counter() - t


def time_train(runner, b: int) -> float:
    batch = train_batch(b)
    set_mode(runner, True)
    t = time.perf_counter()
    runner.train_loss(*batch).backward()
    dt = time.perf_counter() - t
    zero_grads(runner)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds (minima)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-batch", type=int, default=1,
                    help="faces per training-proxy step (each paired + unpaired: 2x rows)")
    ap.add_argument("--res-blocks", type=int, default=None,
                    help="also a row 'mgpe new' with this many G_m residual blocks")
    ap.add_argument("--extra", action="store_true",
                    help="also the row 'mgpe new, transpose' (what the checkerboard cure costs)")
    ap.add_argument("--train-flops", action="store_true",
                    help="also count the training proxy's GFLOP (slow: about 20 s a row)")
    ap.add_argument("--no-time", action="store_true", help="GFLOP and parameters only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = {"original": OriginalRunner(), "mgpe legacy": MgpeRunner(**LEGACY),
            "mgpe new": MgpeRunner()}
    if args.extra:
        rows["mgpe new, transpose"] = MgpeRunner(upsample="transpose")
    if args.res_blocks:
        rows[f"mgpe new, {args.res_blocks} res blocks"] = MgpeRunner(res_blocks=args.res_blocks)
    flops = {k: gflop_per_edit(r) for k, r in rows.items()}
    tflops = {k: (gflop_train(r, args.train_batch) if args.train_flops else float("nan"))
              for k, r in rows.items()}
    params = {k: r.parameters() / 1e6 for k, r in rows.items()}
    tasks = {f"edit b{b}": (lambda r, b=b: time_edit(r, b)) for b in EDIT_BATCHES}
    tasks["train proxy"] = lambda r: time_train(r, args.train_batch)
    times = {k: {t: float("inf") for t in tasks} for k in rows}
    t0 = time.perf_counter()
    if not args.no_time:
        for r in rows.values():  # warm-up
            for fn in tasks.values():
                fn(r)
        for _ in range(args.repeats):
            for t, fn in tasks.items():
                for k, r in rows.items():
                    times[k][t] = min(times[k][t], fn(r))
    wall = time.perf_counter() - t0

    print(f"torch {torch.__version__}, {args.threads} threads, CPU fp32, {RES} px, paper "
          f"widths, random weights; minima of {args.repeats} interleaved rounds "
          f"({wall:.0f} s); GFLOP per edit at batch 4; training step = PROXY (generator "
          f"forward + backward, L1 losses, paired + unpaired, {args.train_batch} face(s) x 2; "
          "no discriminator / parser / optimizer)")
    base = "original"
    print("| architecture | params (M, edit) | GFLOP / edit b4 | x original | "
          "edit b1 ms | speed x | edit b4 ms | speed x | train proxy ms | speed x | "
          "train GFLOP |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in rows:
        cells = [k, f"{params[k]:.1f}", f"{flops[k]:.0f}", f"{flops[k] / flops[base]:.2f}"]
        for t in tasks:
            ms = times[k][t] * 1000
            cells += ([f"{ms:.0f}", f"{times[base][t] / times[k][t]:.2f}"] if not args.no_time
                      else ["-", "-"])
        cells.append(f"{tflops[k]:.0f}")
        print("| " + " | ".join(cells) + " |")
    new = "mgpe new"
    ratio = flops[new] / flops[base]
    print(f"targets (issue 23) for '{new}': GFLOP <= 0.75x original: {ratio:.2f}x -> "
          f"{'met' if ratio <= 0.75 else 'NOT met'}")
    if not args.no_time:
        for t in tasks:
            s = times[base][t] / times[new][t]
            print(f"  {t}: speed >= 1.3x original: {s:.2f}x -> {'met' if s >= 1.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
