"""A converted face parser (a BiSeNet, its own classes and handedness) as the frozen parser of
the parsing loss: log-probabilities over the training schema's classes, differentiable w.r.t.
the generated image.

``forward(x)``: ``x`` in [-1, 1], N x 3 x H x W at the training resolution. The wrapped parser
resizes it to its ``input_size`` (bilinear), runs its main head and upsamples the logits back to
H x W (bilinear, ``align_corners=True``: :meth:`BiSeNetParser.forward`, the path of ``.parse``);
then a softmax over its own classes, the probabilities of the source classes that map to each
training class summed (:func:`mgpe_core.labels.conversion_table`: by class name, ``l_``/``r_``
swapped when the conventions differ) and their log taken (floored at :data:`PROB_FLOOR`).

Cross-entropy of log-probabilities is their negative log-likelihood (a log-softmax of
log-probabilities that sum to 1 changes nothing), so ``generator_losses`` uses it unchanged.

Torch is imported at module level: import this module only inside functions.
"""

from __future__ import annotations

import torch
from torch import nn

#: Smallest probability whose log is taken: a training class that no source class maps to (or
#: one the parser rules out) costs at most -log(1e-12) ~ 27.6 per pixel, never infinity.
PROB_FLOOR = 1e-12


class MappedParser(nn.Module):
    """Frozen wrapper of a parser with its own schema (``parser.schema``; ``parser(x)`` gives
    logits in that schema at x's size; ``parser.input_size`` the size it runs at) giving
    log-probabilities in ``schema``. ``input_size``: run the parser at this size instead of its
    own (a multiple of 32 for BiSeNet)."""

    def __init__(self, parser: nn.Module, schema, input_size: int | None = None):
        super().__init__()
        from ..labels import conversion_table

        self.parser = parser
        self.source_schema = parser.schema
        self.schema = schema
        if input_size is not None:
            parser.input_size = int(input_size)
        table = torch.from_numpy(conversion_table(self.source_schema, schema).astype("int64"))
        matrix = torch.zeros(schema.num_classes, len(self.source_schema.classes))
        matrix[table, torch.arange(len(table))] = 1.0
        #: (training classes, source classes): 1 where a source class adds to a training class
        self.register_buffer("matrix", matrix, persistent=False)
        self.requires_grad_(False)
        self.eval()

    @property
    def input_size(self) -> int:
        return int(self.parser.input_size)

    @property
    def resolution(self) -> int:
        return self.input_size

    def train(self, mode: bool = True):
        """Always in eval mode: the parser is taken as given (BatchNorm statistics frozen)."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (N, K, H, W) in :attr:`schema`, float32, for x in [-1, 1]."""
        probs = self.parser(x).float().softmax(1)
        mapped = torch.einsum("ts,nshw->nthw", self.matrix.to(probs.dtype), probs)
        return mapped.clamp_min(PROB_FLOOR).log()

    @torch.no_grad()
    def parse(self, x: torch.Tensor) -> torch.Tensor:
        """Label ids (N, H, W) in :attr:`schema`: the most probable training class."""
        return self.forward(x).argmax(1)

    def describe(self) -> dict:
        """What the run records about this parser (besides the model's name)."""
        return {"schema": self.source_schema.name, "classes": list(self.source_schema.classes),
                "sides": self.source_schema.sides, "input_size": self.input_size,
                "mapped_to": self.schema.name,
                "mapping": "probabilities summed by class name and handedness"}
