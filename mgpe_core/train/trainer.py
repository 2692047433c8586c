"""The generator training loop (``mgpe train``).

Each step runs both branches of the seed's training strategy in one batched forward pass:

- paired: source == target (every loss term, Equation 7);
- unpaired: styles from a partner face of the same batch (a derangement of the batch), mask and
  background from the face itself (global and feature-matching terms drop out, Equation 8);
  with ``train.style_mixing`` each component keeps the face's own style by chance (mixed
  styles, as a component edit makes them).

Then the multiscale discriminators take one step on real targets vs. both branches' outputs
(one forward over the concatenated batch, which also keeps DDP to one forward per backward), and
the EMA generator is updated.

Everything needed to continue lives in the checkpoint: networks, EMA, both optimizers, the
gradient scaler, step, RNG states of torch / numpy / Python, and the data order (epoch and batch
within it). Resuming is exact on the CPU: N steps, stop, N more == 2N straight.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import (
    CheckpointError,
    checkpoint_problem,
    clean_temporaries,
    find_latest,
    flatten_optimizer,
    list_checkpoints,
    load_checkpoint,
    load_module_state,
    save_checkpoint,
    summarise,
    unflatten_optimizer,
)
from ..components import COMPONENTS, colour_masks, component_masks
from ..errors import MgpeError
from ..io import write_bytes, write_image
from ..model.build import Networks, build_networks, parameter_counts
from ..model.config import MgpeConfig
from ..model.generator import one_hot
from ..model.losses import adversarial_loss, class_weights, generator_losses
from .distributed import DistInfo, precision_context
from .ema import make_ema, recalibrate_batchnorm, update_ema


class TrainingAborted(MgpeError):
    """Too many non-finite losses in a row."""


@dataclass
class StepResult:
    losses: dict[str, float]
    skipped: bool = False


@dataclass
class StopFlag:
    """Set by SIGINT / SIGTERM: the loop checkpoints and returns at the next step boundary."""

    requested: bool = False
    signal_name: str | None = None


def install_signal_handlers(flag: StopFlag):
    def handler(signum, _frame):
        flag.requested = True
        flag.signal_name = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in previous.items()]


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    np_state = np.random.get_state()
    meta = {
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
        if states:
            torch.cuda.set_rng_state_all(states)
    n = meta["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), *n[2:]))
    p = meta["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def paired_and_partnered(images: torch.Tensor, labels: torch.Tensor, partner: torch.Tensor):
    """(source images, source labels, target images, target labels) of the generator's 2B
    training batch: the first B rebuild each face from itself (paired), the next B render each
    face's mask with the styles of its ``partner`` (unpaired)."""
    return (torch.cat([images, images[partner]]), torch.cat([labels, labels[partner]]),
            torch.cat([images, images]), torch.cat([labels, labels]))


def mixed_style_rows(batch: int, keep_own: float, num_components: int,
                     device: torch.device) -> torch.Tensor | None:
    """The generator's ``style_rows`` for a :func:`paired_and_partnered` batch of ``2 *
    batch`` rows: paired rows keep their own styles; each component of unpaired row
    ``batch + i`` keeps face ``i``'s own style (row ``i``, which encodes the same face) with
    probability ``keep_own``, else its partner's (its own row). None when ``keep_own`` is 0
    (the seed's unpaired step; no random numbers drawn, so such runs keep their stream)."""
    if keep_own <= 0:
        return None
    rows = torch.arange(2 * batch).unsqueeze(1).repeat(1, num_components)
    own = torch.rand(batch, num_components) < keep_own
    rows[batch:] = torch.where(own, rows[:batch], rows[batch:])
    return rows.to(device)


def stack_items(items: list[dict], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Dataset items as an (images, labels) batch on ``device``."""
    return (torch.stack([it["image"] for it in items]).to(device),
            torch.stack([it["labels"] for it in items]).to(device))


@dataclass
class DataCursor:
    """Where the data order stands: epoch and batches already used in it."""

    epoch: int = 0
    batch: int = 0


@dataclass
class Trainer:
    cfg: MgpeConfig
    data_dir: Path
    run_dir: Path
    parser_path: Path
    device: torch.device
    dist: DistInfo = field(default_factory=DistInfo)
    log: Callable[[str], None] = print
    num_workers: int = 0
    #: The size a converted parser (BiSeNet) runs at in the parsing loss; None: its own (512).
    parser_input_size: int | None = None

    def __post_init__(self) -> None:
        from ..data.augment import PortraitAugment
        from ..data.dataset import PartnerSampler, PortraitDataset
        from .parser_io import load_training_parser

        cfg, dev = self.cfg, self.device
        mcfg = cfg.model
        self.schema = mcfg.label_schema
        torch.manual_seed(cfg.train.seed)  # same initial weights on every rank
        nets = build_networks(mcfg)
        # then a different random stream per rank (augmentations, partners, VAE samples)
        torch.manual_seed(cfg.train.seed + 1_000_003 * self.dist.rank)
        np.random.seed((cfg.train.seed + self.dist.rank) % 2**32)
        random.seed(cfg.train.seed + self.dist.rank)
        self.memory_format = (torch.channels_last if cfg.train.channels_last
                              else torch.contiguous_format)
        self.generator = nets.generator.to(dev, memory_format=self.memory_format)
        self.discriminator = nets.discriminator.to(dev, memory_format=self.memory_format)
        self.ema = make_ema(self.generator)
        self.parser, pmeta = load_training_parser(self.parser_path, self.schema, dev,
                                                   self.parser_input_size)
        self.parser.to(memory_format=self.memory_format)
        #: A converted parser (a parser-only model such as a BiSeNet, its classes mapped to the
        #: schema's by name: log-probabilities): what every checkpoint records as
        #: ``parser_model`` (its registered name, architecture, own schema, input size). None
        #: for an mgpe U-Net parser, which the model config's ``parser`` entry describes.
        self.parser_model = pmeta.get("converted")
        if self.parser_model is None:
            if pmeta["schema_obj"].classes != self.schema.classes:
                raise MgpeError(
                    f"parser {self.parser_path} predicts schema {pmeta['schema_obj'].name!r}, "
                    f"the model uses {self.schema.name!r} (a new run takes the parser's "
                    f"schema with --schema {pmeta['schema_obj'].name})"
                )
            # The parser is not trained here but taken as given: the run's config
            # (config.json, every checkpoint, hence every model imported from it) and its
            # parameter counts describe that parser, not the one the config asked for.
            self.cfg = cfg = _with_parser(cfg, self.parser.cfg)
        else:
            # No U-Net config describes a converted network: the model config's parser entry
            # stays the config's own (unused), and ``parser_model`` in every checkpoint (and
            # run.json's ``parser``, the model's name) says which parser the loss used.
            self.log(f"parsing loss: converted {self.parser_model['architecture']} parser of "
                     f"model {self.parser_model['model']} at {self.parser.input_size} px, its "
                     f"{len(self.parser_model['classes'])} classes mapped to "
                     f"{self.schema.name!r} by name")
        mcfg = cfg.model
        self.param_counts = parameter_counts(
            Networks(nets.generator, nets.discriminator, self.parser))
        self.dataset = PortraitDataset(self.data_dir, split="train", schema=self.schema)
        self.dataset.check_files()  # a missing file fails now, not when training reaches it
        if self.dataset.folder.size != mcfg.resolution:
            raise MgpeError(
                f"{self.data_dir} holds {self.dataset.folder.size} px faces but the model is "
                f"{mcfg.resolution} px: prepare the data with --size {mcfg.resolution}"
            )
        if len(self.dataset) < cfg.train.batch * self.dist.world_size:
            raise MgpeError(f"{self.data_dir}: {len(self.dataset)} training faces, fewer than "
                            f"one batch ({cfg.train.batch} x {self.dist.world_size} processes)")
        self.sampler = PartnerSampler(len(self.dataset), cfg.train.batch, cfg.train.seed,
                                      rank=self.dist.rank, world_size=self.dist.world_size)
        self.augment = PortraitAugment(self.schema).to(dev) if cfg.train.augment else None
        t = cfg.train
        if t.lr_decay_steps < 0:
            from ..typed_config import ConfigError

            raise ConfigError(f"train.lr_decay_steps must be >= 0, got {t.lr_decay_steps}")
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=t.lr, betas=t.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=t.lr, betas=t.betas)
        self.scaler = torch.amp.GradScaler(dev.type, enabled=t.precision == "fp16")
        self.weights = class_weights(cfg.loss, self.schema).to(dev)
        self.step = 0
        self.cursor = DataCursor()
        self.nonfinite_in_row = 0
        #: The EMA starts from trained weights (``init_from``): no decay warm-up.
        self.ema_initialised = False
        self.g_train, self.d_train = self.generator, self.discriminator
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [dev.index] if dev.type == "cuda" else None
            # BatchNorm running statistics stay rank-local: not broadcast from rank 0 before
            # every forward. Newer torch spells that forward_sync_buffers=False (and warns about
            # broadcast_buffers); its one-time sync at start is harmless here, where every rank
            # starts from the same networks.
            import inspect

            no_sync = ({"forward_sync_buffers": False}
                       if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
                       else {"broadcast_buffers": False})
            self.g_train = DDP(self.generator, device_ids=ids, **no_sync)
            self.d_train = DDP(self.discriminator, device_ids=ids, **no_sync)
        self.sample_batch = None

    # -- state ---------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {}
        for name, module in (("generator", self.generator), ("ema", self.ema),
                             ("discriminator", self.discriminator)):
            tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
        meta = {}
        for name, opt in (("generator", self.opt_g), ("discriminator", self.opt_d)):
            t, m = flatten_optimizer(f"optim.{name}", opt.state_dict())
            tensors.update(t)
            meta[f"optim.{name}"] = m
        rt, rm = rng_state()
        tensors.update(rt)
        meta.update(
            config=self.cfg.to_dict(), rng=rm, scaler=self.scaler.state_dict(),
            cursor={"epoch": self.cursor.epoch, "batch": self.cursor.batch},
            nonfinite_in_row=self.nonfinite_in_row, world_size=self.dist.world_size,
            ema_initialised=self.ema_initialised,
        )
        if self.parser_model is not None:
            meta["parser_model"] = self.parser_model
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        def sub(prefix):
            return {k[len(prefix) + 1:]: v for k, v in tensors.items()
                    if k.startswith(prefix + ".")}

        saved_cfg = MgpeConfig.from_dict(meta["config"])
        # the parser entry may differ: runs of older versions recorded the asked-for parser
        # instead of the one used, and a resumed run may be given another parser
        if _with_parser(saved_cfg, self.cfg.model.parser).model != self.cfg.model:
            raise CheckpointError("the checkpoint's model config differs from this run's; "
                                  "resume with the run's own config.json")
        before = (meta.get("parser_model") or {}).get("model")
        now = (self.parser_model or {}).get("model")
        if before != now:
            self.log(f"note: the checkpoint was trained with parser "
                     f"{f'model {before}' if before else 'an mgpe U-Net'}, continuing with "
                     f"{f'model {now}' if now else self.parser_path}")
        if meta.get("world_size", 1) != self.dist.world_size:
            self.log(f"note: checkpoint written with {meta.get('world_size')} process(es), "
                     f"resuming with {self.dist.world_size}: data order will differ")
        for name, module in (("generator", self.generator), ("ema", self.ema),
                             ("discriminator", self.discriminator)):
            load_module_state(module, sub(name), f"checkpoint: {name}")
        for name, opt in (("generator", self.opt_g), ("discriminator", self.opt_d)):
            opt.load_state_dict(unflatten_optimizer(
                f"optim.{name}",
                {k: v.to(self.device) for k, v in tensors.items()},
                meta[f"optim.{name}"]))
        if meta.get("scaler"):
            self.scaler.load_state_dict(meta["scaler"])
        set_rng_state(tensors, meta["rng"])
        self.step = meta["step"]
        self.cursor = DataCursor(**meta["cursor"])
        self.nonfinite_in_row = meta.get("nonfinite_in_row", 0)
        self.ema_initialised = meta.get("ema_initialised", False)

    def save(self) -> Path | None:
        if not self.dist.is_main:
            return None
        self.recalibrate_ema()
        tensors, meta = self.state()
        return save_checkpoint(self.run_dir / "checkpoints", self.step, tensors, meta,
                               keep=self.cfg.train.keep_checkpoints)

    def recalibrate_ema(self) -> int:
        """Give the EMA generator BatchNorm statistics of its own weights before it is saved
        (see :func:`recalibrate_batchnorm`): ``train.ema_bn_batches`` batches of training faces,
        evenly spread over the training split (the same faces every time), each run as in
        training: augmented (when ``train.augment``), paired and with rolled partners, latents
        sampled. The networks learn under the statistics of augmented batches; statistics of
        unaugmented ones cost the built-in model's EMA 2.4 dB of PSNR (23.66 against 26.04 dB,
        docs/builtin-models.md). The RNG is left untouched, so training continues (and
        resumes) exactly as without it."""
        k, b = self.cfg.train.ema_bn_batches, self.cfg.train.batch
        if k <= 0 or len(self.dataset) == 0:
            return 0
        picks = np.linspace(0, len(self.dataset) - 1, k * b).round().astype(int).tolist()
        amp = precision_context(self.cfg.train.precision, self.device)

        batches = (stack_items([self.dataset[i] for i in picks[start:start + b]], self.device)
                   for start in range(0, len(picks), b))

        def forward(model, batch):
            img, lab = self.as_trained(*batch)
            partner = torch.roll(torch.arange(img.shape[0], device=img.device), 1)
            with amp:
                model(*paired_and_partnered(img, lab, partner), sample=True)

        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return recalibrate_batchnorm(self.ema, batches, forward)

    def resume(self, spec: str | None) -> bool:
        """``auto``: newest complete checkpoint of the run, if any (none at all: a new run;
        checkpoints but none complete: refused, naming them); ``fresh``: start again from step
        0, the run's checkpoints and stats moved aside; else a sidecar path. Temporary files of
        a checkpoint write that was killed are removed first (and reported)."""
        if not spec:
            return False
        folder = self.run_dir / "checkpoints"
        removed = clean_temporaries(folder)
        if removed:
            self.log(f"removed {len(removed)} temporary file(s) left by an interrupted "
                     f"checkpoint write in {folder}")
        if spec == "fresh":
            self._start_over(folder)
            return False
        path = find_latest(folder) if spec == "auto" else Path(spec)
        if path is None:
            found = list_checkpoints(folder)
            if found:
                reasons = [f"{p.stem}: {checkpoint_problem(p) or 'incomplete'}"
                           for p in reversed(found)]
                raise CheckpointError(
                    f"--resume auto: none of the {len(found)} checkpoint(s) in {folder} is "
                    f"complete ({summarise(reasons)}). Refusing to start over silently: to "
                    "train again from step 0, use --resume fresh (the old checkpoints and "
                    "stats are moved aside, not deleted)")
            return False
        tensors, meta = load_checkpoint(path)
        self.load_state(tensors, meta)
        self.log(f"resumed from {path} (step {self.step})")
        return True

    def _start_over(self, folder: Path) -> None:
        """``--resume fresh``: move the run's checkpoints and stats.jsonl to
        ``checkpoints.discarded-N/`` so the new run's checkpoints and steps stand alone."""
        stats = self.run_dir / "stats.jsonl"
        if not self.dist.is_main or not (list_checkpoints(folder) or stats.exists()):
            return
        n = 1
        while (self.run_dir / f"checkpoints.discarded-{n}").exists():
            n += 1
        aside = self.run_dir / f"checkpoints.discarded-{n}"
        if folder.exists():
            folder.rename(aside)
        else:
            aside.mkdir()
        if stats.exists():
            stats.rename(aside / "stats.jsonl")
        self.log(f"--resume fresh: starting from step 0; the previous checkpoints and stats "
                 f"are in {aside}")

    def init_from(self, path: str | Path) -> str:
        """Start from other weights with fresh optimizers at step 0 (fine-tuning): another
        run's checkpoint (generator, EMA, discriminators; e.g. a variant from the original
        model) or a model (registry name or folder: generator and EMA; the discriminators stay
        freshly initialised, see ``train.d_warmup_steps``). The architectures must match
        parameter for parameter (variants such as ``eye_window`` do). Returns what was used."""
        if _is_model_spec(path):
            return self._init_from_model(str(path))
        from .runs import resolve_checkpoint

        sidecar = resolve_checkpoint(path)
        tensors, meta = load_checkpoint(sidecar)
        for name, module in (("generator", self.generator), ("ema", self.ema),
                             ("discriminator", self.discriminator)):
            state = {k[len(name) + 1:]: v for k, v in tensors.items()
                     if k.startswith(name + ".")}
            self._load_init(module, state, f"{sidecar}: {name}")
        self.ema_initialised = True
        self.log(f"initialised from {sidecar} (its step {meta.get('step')})")
        return str(sidecar.resolve())

    def _init_from_model(self, name: str) -> str:
        from ..registry import load_generator_states

        entry, meta, states = load_generator_states(name)
        self._load_init(self.generator, states["generator"], f"model {entry.name}: generator")
        self._load_init(self.ema, states["generator_ema"], f"model {entry.name}: EMA generator")
        self.ema_initialised = True
        step = meta.get("recipe", {}).get("step")
        self.log(f"initialised from model {entry.name} (generator and EMA"
                 f"{f', its step {step}' if step is not None else ''}); the discriminators "
                 f"start fresh (train.d_warmup_steps = {self.cfg.train.d_warmup_steps})")
        return f"model {entry.name} ({entry.path.resolve()})"

    def _load_init(self, module, state: dict, what: str) -> None:
        """Load ``state``; modules that this config adds to weights trained without them
        (``initialised_fresh``, e.g. the background gate) keep their own initialisation."""
        fresh = getattr(module, "initialised_fresh", lambda _state: {})(state)
        if fresh:
            self.log(f"{what}: {', '.join(sorted({k.split('.')[0] for k in fresh}))} not in "
                     "those weights: initialised fresh")
        load_module_state(module, {**state, **fresh}, what)

    # -- data ----------------------------------------------------------------------------------

    def batches(self):
        """Endless (images, labels) on the device, following and advancing the cursor."""
        from torch.utils.data import DataLoader

        while True:
            self.sampler.set_epoch(self.cursor.epoch)
            index_batches = list(iter(self.sampler))[self.cursor.batch:]
            # A private generator: creating a loader must not draw from the global RNG, or a
            # resumed run (which creates one more loader) would diverge from a straight one.
            loader = DataLoader(self.dataset, batch_sampler=index_batches,
                                num_workers=self.num_workers,
                                pin_memory=self.device.type == "cuda",
                                generator=torch.Generator().manual_seed(self.cursor.epoch))
            for batch in loader:
                self.cursor.batch += 1
                yield (batch["image"].to(self.device, non_blocking=True),
                       batch["labels"].to(self.device, non_blocking=True))
            self.cursor = DataCursor(self.cursor.epoch + 1, 0)

    def as_trained(self, images: torch.Tensor, labels: torch.Tensor):
        """A batch as a training step feeds it to the networks: augmented (when
        ``train.augment``), in the run's memory format. The EMA's BatchNorm statistics are
        computed from batches made the same way."""
        if self.augment is not None:
            images, labels = self.augment(images, labels)
        return images.contiguous(memory_format=self.memory_format), labels

    # -- one step --------------------------------------------------------------------------------

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> StepResult:
        from ..data.dataset import partner_permutation

        cfg, lcfg = self.cfg, self.cfg.loss
        images, labels = self.as_trained(images, labels)
        b = images.shape[0]
        perm = partner_permutation(b, None).to(self.device)
        style_rows = mixed_style_rows(b, cfg.train.style_mixing, len(COMPONENTS), self.device)
        src_img, src_lab, tgt_img, tgt_lab = paired_and_partnered(images, labels, perm)
        nc = self.schema.num_classes
        amp = precision_context(cfg.train.precision, self.device)

        self.generator.train()
        if self.step < cfg.train.d_warmup_steps:  # only the discriminators learn
            with torch.no_grad(), amp:
                fake = self.generator(src_img, src_lab, tgt_img, tgt_lab, sample=True,
                                      style_rows=style_rows)["image"]
            return self._discriminator_step(images, labels, fake, tgt_lab, amp, {}, None)

        # generator step (D frozen: no D gradients, no DDP sync of D here)
        self.discriminator.requires_grad_(False)
        with amp:
            out = self.g_train(src_img, src_lab, tgt_img, tgt_lab, sample=True,
                               style_rows=style_rows)
            fake = out["image"]
            onehot = one_hot(tgt_lab, nc, fake.dtype)
            d_fake = self.discriminator(fake, onehot)
            with torch.no_grad():
                d_real = self.discriminator(images, onehot[:b])
            regions = colour = None
            if lcfg.region_reconstruction:
                regions = component_masks(labels, self.schema)
            if lcfg.region_colour:  # style sources: each face (paired), its partner (unpaired)
                tints = colour_masks(labels, self.schema)  # lips without teeth, skin, ...
                colour = (src_img, torch.cat([tints, tints[perm]]), torch.cat([tints, tints]),
                          style_rows)
            g_loss, terms = generator_losses(out, d_fake, d_real, self.parser, tgt_lab, images,
                                             lcfg, self.weights, regions, colour)
        self.discriminator.requires_grad_(True)
        if not torch.isfinite(g_loss):
            return self._nonfinite("generator")
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(g_loss).backward()
        self.scaler.step(self.opt_g)
        return self._discriminator_step(images, labels, fake, tgt_lab, amp, terms, g_loss)

    def _discriminator_step(self, images, labels, fake, tgt_lab, amp, terms: dict,
                            g_loss) -> StepResult:
        """One step of the discriminators on real targets vs. both branches' outputs (one
        forward), then the EMA update (skipped while only the discriminators learn)."""
        cfg, lcfg = self.cfg, self.cfg.loss
        b, nc = images.shape[0], self.schema.num_classes
        with amp:
            d_in = torch.cat([images, fake.detach()])
            d_lab = torch.cat([labels, tgt_lab])
            outs = self.d_train(d_in, one_hot(d_lab, nc, d_in.dtype))
            real_outs = [[f[:b] for f in s] for s in outs]
            fake_outs = [[f[b:] for f in s] for s in outs]
            d_real_loss = adversarial_loss(real_outs, True, lcfg.gan_mode, True)
            d_fake_loss = adversarial_loss(fake_outs, False, lcfg.gan_mode, True)
            d_loss = 0.5 * (d_real_loss + d_fake_loss)
        if not torch.isfinite(d_loss):
            return self._nonfinite("discriminator")
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(d_loss).backward()
        self.scaler.step(self.opt_d)
        self.scaler.update()
        if g_loss is not None:
            update_ema(self.ema, self.generator, cfg.train.ema_decay,
                       step=None if self.ema_initialised else self.step)
        self.nonfinite_in_row = 0
        losses = {k: float(v.detach()) for k, v in terms.items()}
        if g_loss is not None:
            losses["g_total"] = float(g_loss.detach())
        losses.update(d_real=float(d_real_loss.detach()), d_fake=float(d_fake_loss.detach()))
        return StepResult(losses)

    def _nonfinite(self, which: str) -> StepResult:
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        self.nonfinite_in_row += 1
        limit = self.cfg.train.max_nonfinite_in_row
        self.log(f"warning: non-finite {which} loss at step {self.step + 1}: step skipped "
                 f"({self.nonfinite_in_row} in a row, limit {limit})")
        if self.nonfinite_in_row >= limit:
            raise TrainingAborted(f"{self.nonfinite_in_row} non-finite losses in a row; "
                                  "lower the learning rate or use --precision fp32")
        return StepResult({}, skipped=True)

    # -- samples ---------------------------------------------------------------------------------

    def write_samples(self) -> Path | None:
        """Grid: source | target mask | paired output | unpaired output, fixed test pairs."""
        if not self.dist.is_main:
            return None
        from ..data.dataset import PortraitDataset
        from ..pictures import make_grid

        if self.sample_batch is None:
            try:
                ds = PortraitDataset(self.data_dir, split="test", schema=self.schema)
                if len(ds) == 0:
                    raise IndexError
            except (MgpeError, IndexError):
                ds = self.dataset
            items = [ds[i] for i in range(min(4, len(ds)))]
            self.sample_batch = stack_items(items, self.device)
        img, lab = self.sample_batch
        n = img.shape[0]
        partner = torch.roll(torch.arange(n), 1).to(self.device)
        self.ema.eval()
        with torch.no_grad():
            paired = self.ema(img, lab, img, lab)["image"]
            unpaired = self.ema(img[partner], lab[partner], img, lab)["image"]

        from ..tensors import tensor_to_images as to_np

        masks = self.schema.palette[lab.cpu().numpy()]
        tiles = []
        src, pai, unp, sty = to_np(img), to_np(paired), to_np(unpaired), to_np(img[partner])
        for i in range(n):
            tiles += [src[i], masks[i], pai[i], sty[i], unp[i]]
        grid = make_grid(tiles, ncol=5)
        folder = self.run_dir / "samples"
        folder.mkdir(exist_ok=True)
        path = folder / f"step-{self.step:09d}.png"
        write_image(path, grid)
        return path

    # -- the loop ------------------------------------------------------------------------------

    def set_learning_rate(self) -> float:
        """Both optimizers' rate for the step about to run: ``train.lr``, falling linearly
        over the last ``train.lr_decay_steps`` of ``train.steps`` (the run's planned length,
        not where this call of :meth:`run` stops: a stopped and resumed run keeps the
        schedule; the last step runs at ``lr / lr_decay_steps``, never 0)."""
        t = self.cfg.train
        left = t.steps - self.step  # this step included
        lr = t.lr * min(1.0, max(left, 1) / t.lr_decay_steps) if t.lr_decay_steps else t.lr
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        return lr

    def run(self, steps: int, stop: StopFlag | None = None,
            on_step: Callable[[int, dict, float], None] | None = None) -> dict:
        """Train until ``steps`` total steps; checkpoint on the way and at the end or on stop."""
        stop = stop or StopFlag()
        t = self.cfg.train
        stats_path = self.run_dir / "stats.jsonl"
        data = self.batches()
        started, last_t = time.perf_counter(), time.perf_counter()
        images_per_step = t.batch * self.dist.world_size
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            _trim_stats(stats_path, self.step)
        stats = open(stats_path, "a") if self.dist.is_main else None
        try:
            while self.step < steps and not stop.requested:
                images, labels = next(data)
                lr = self.set_learning_rate()
                result = self.train_step(images, labels)
                if result.skipped:
                    continue
                self.step += 1
                now = time.perf_counter()
                dt, last_t = now - last_t, now
                record = {"step": self.step, **{k: round(v, 6) for k, v in
                                                result.losses.items()},
                          "step_time": round(dt, 4),
                          "images_per_second": round(images_per_step / dt, 2)}
                if t.lr_decay_steps:
                    record["lr"] = lr
                if stats:
                    stats.write(json.dumps(record) + "\n")
                    stats.flush()
                if on_step:
                    on_step(self.step, record, dt)
                if self.step % t.sample_every == 0:
                    self.write_samples()
                if self.step % t.checkpoint_every == 0 and self.step < steps:
                    self.save()
        finally:
            if stats:
                stats.close()
        path = self.save()
        self.write_samples()
        elapsed = time.perf_counter() - started
        return {"step": self.step, "checkpoint": str(path) if path else None,
                "stopped_by": stop.signal_name, "seconds": round(elapsed, 2)}


def _trim_stats(path: Path, step: int) -> None:
    """Keep one record per step across resumes: drop the records after ``step`` (steps done
    after the checkpoint a run resumes from, which it does again) and lines cut by a crash."""
    if not path.exists():
        return
    text = path.read_text()
    kept = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
            if isinstance(rec, dict) and isinstance(rec.get("step"), int) and \
                    rec["step"] <= step:
                kept.append(line)
        except ValueError:
            continue
    new = "".join(line + "\n" for line in kept)
    if new != text:
        write_bytes(path, new.encode())


def _is_model_spec(path: str | Path) -> bool:
    """``--init-from`` names a model (registry name or model folder), not a run/checkpoint."""
    p = Path(path)
    if p.is_dir():
        return (p / "config.json").exists() and not (p / "checkpoints").is_dir()
    return not p.exists()


def _with_parser(cfg: MgpeConfig, parser_cfg) -> MgpeConfig:
    """``cfg`` whose model config names ``parser_cfg`` as its parser."""
    import dataclasses

    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, parser=parser_cfg))


def parser_folder_config(cfg: MgpeConfig, parser_path: str | Path) -> MgpeConfig:
    """``cfg`` naming the U-Net config of ``parser_path`` when that is a train-parser folder or
    file (what a run records once it loads the parser); unchanged for a model's parser (a name
    or a model folder), which is only read when the run starts. A missing or broken parser.json
    raises the same error the run would."""
    from .parser_io import names_a_model, read_parser_folder

    if names_a_model(parser_path):
        return cfg
    return _with_parser(cfg, read_parser_folder(parser_path)[2])


def init_model_config(path: str | Path) -> dict:
    """The model config (as a dict) of what ``--init-from`` names: a model or a run's
    checkpoint, so that a fine-tune need not repeat the architecture."""
    if _is_model_spec(path):
        from ..registry import find_model, read_model_config

        return read_model_config(find_model(str(path)).path)["config"]["model"]
    from ..io import read_json
    from .runs import resolve_checkpoint

    sidecar = resolve_checkpoint(path)
    meta = read_json(sidecar, "checkpoint sidecar")
    if "config" not in meta:
        raise CheckpointError(f"{sidecar} is not an mgpe checkpoint sidecar")
    return meta["config"]["model"]


def describe(cfg: MgpeConfig) -> dict:
    """Resolved config and parameter counts, for ``--dry-run`` (builds the nets on the CPU)."""
    counts = parameter_counts(build_networks(cfg.model))
    return {"config": cfg.to_dict(), "parameters": counts,
            "parameters_millions": {k: round(v / 1e6, 3) for k, v in counts.items()}}


__all__ = ["Trainer", "StopFlag", "install_signal_handlers", "describe", "TrainingAborted"]
