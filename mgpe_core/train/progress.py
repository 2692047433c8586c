"""What ``mgpe train`` tells a user about time and space: before the first step the size of
the networks and of a checkpoint; after it the measured step time and the ETA; and, into a log
file (stderr not a terminal), a progress line every few seconds rather than every N steps, so
that a slow step (45-98 s at the paper's size on a CPU) never leaves the log empty for long.
"""

from __future__ import annotations

import time

from ..console import duration_text


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def checkpoint_bytes(trainer) -> int:
    """About the size of one checkpoint: the generator, its EMA and the discriminators (every
    tensor of their state), plus Adam's two moments per trainable parameter (created by the
    first step, so computed rather than read). RNG and sidecar are a few KB."""
    nets = (trainer.generator, trainer.ema, trainer.discriminator)
    state = sum(_bytes(m.state_dict().values()) for m in nets)
    moments = sum(2 * _bytes(p for p in m.parameters() if p.requires_grad)
                  for m in (trainer.generator, trainer.discriminator))
    return state + moments


#: A training step (paired + unpaired pass, backward, the discriminators' step, the parsing
#: loss) costs about this many times one face's generator forward pass, per face of the batch:
#: 5-14 on the project's 2-core CPU (cpu-small at 128 px, the paper's widths at 256 px).
STEP_PER_FORWARD = 8.0


def estimate_step_seconds(trainer) -> float:
    """About how long a step will take, before the first one: one training face through the
    generator (eval mode, no gradient: no statistics, weights or random state touched), timed
    after a warm-up, times :data:`STEP_PER_FORWARD` and the batch. Within about 2x; the
    measured time replaces it after step 1."""
    import torch

    face = trainer.dataset[0]
    image = face["image"][None].to(trainer.device)
    labels = face["labels"][None].to(trainer.device)
    gen = trainer.generator
    was_training = gen.training
    gen.eval()
    try:
        with torch.no_grad():
            gen(image, labels, image, labels)  # warm-up: allocations, kernel choice
            t = time.perf_counter()
            gen(image, labels, image, labels)
            seconds = time.perf_counter() - t
    finally:
        gen.train(was_training)
    return seconds * STEP_PER_FORWARD * trainer.cfg.train.batch


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def training_plan(trainer, step_seconds: float | None = None) -> str:
    """One line: parameters, checkpoint size and how many are kept, steps to go, and (given
    ``step_seconds``, :func:`estimate_step_seconds`) the expected step time and duration."""
    t = trainer.cfg.train
    counts = trainer.param_counts
    each = checkpoint_bytes(trainer)
    kept = max(1, t.keep_checkpoints)
    todo = max(0, t.steps - trainer.step)
    text = (f"generator {counts['generator_total'] / 1e6:.1f} M parameters, discriminators "
            f"{counts.get('discriminator', 0) / 1e6:.1f} M; a checkpoint is about "
            f"{_size(each)} (every {t.checkpoint_every} steps, {kept} kept: up to "
            f"{_size(each * (kept + 1))} on disk while the next is written); {todo} step(s) to "
            f"go at {trainer.cfg.model.resolution} px, batch {t.batch}")
    if step_seconds is not None:
        text += (f"; expected about {step_seconds:.1f} s a step, "
                 f"{duration_text(todo * step_seconds)} in all (estimated from one forward "
                 f"pass; measured after step 1)")
    return text


class StepClock:
    """Step times of this run and when the next log line is due (``every`` seconds)."""

    def __init__(self, start_step: int, total: int, every: float, now=time.monotonic):
        self.start, self.total, self.every, self.now = start_step, total, every, now
        self.times: list[float] = []
        self.last_line = now()

    def first(self, step: int) -> bool:
        return step == self.start + 1

    def tick(self, step: int, dt: float) -> bool:
        """Record a step; True when a log line is due (every ``every`` s, and the last step)."""
        self.times.append(dt)
        t = self.now()
        if t - self.last_line >= self.every or step >= self.total or self.first(step):
            self.last_line = t
            return True
        return False

    def step_time(self) -> float:
        """Mean step time; the first step (warm-up: allocations, kernel choice) is left out
        once there are others."""
        times = self.times[1:] if len(self.times) > 1 else self.times
        return sum(times) / len(times) if times else 0.0

    def eta_text(self, step: int) -> str:
        left = max(0, self.total - step)
        per = self.step_time()
        return f"{per:.2f} s/step, {left} to go: ETA {duration_text(left * per)}"
