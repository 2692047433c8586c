"""Build the networks a config describes, and count their parameters by sub-network."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .blocks import count_parameters
from .config import ModelConfig
from .discriminator import MultiscaleDiscriminator
from .generator import MGPEGenerator
from .parser import UNetParser


@dataclass
class Networks:
    generator: MGPEGenerator
    discriminator: MultiscaleDiscriminator
    parser: UNetParser

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator,
                "parser": self.parser}


def build_generator(cfg: ModelConfig) -> MGPEGenerator:
    return MGPEGenerator(cfg)


def build_parser(cfg: ModelConfig) -> UNetParser:
    return UNetParser(cfg.label_schema, cfg.parser)


def build_networks(cfg: ModelConfig) -> Networks:
    return Networks(
        generator=build_generator(cfg),
        discriminator=MultiscaleDiscriminator(cfg.label_schema.num_classes, cfg.discriminator),
        parser=build_parser(cfg),
    )


def parameter_counts(nets: Networks) -> dict[str, int]:
    """Parameters per sub-network: the three generator parts of the paper, D and the parser."""
    g = nets.generator
    local = sum(count_parameters(m) for m in g.local.values())
    mask_gen = (count_parameters(g.mask_encoders) + count_parameters(g.g_in)
                + count_parameters(g.g_res) + count_parameters(g.g_up))
    background = count_parameters(g.bg_encoder) + count_parameters(g.fuse)
    if g.background_gate is not None:
        background += count_parameters(g.background_gate)
    counts = {
        "local_embedding": local,
        **{f"local_embedding.{k}": count_parameters(m) for k, m in g.local.items()},
        "mask_guided_generator": mask_gen,
        "background_fusing": background,
        "generator_total": count_parameters(g),
        "discriminator": count_parameters(nets.discriminator),
        "parser": count_parameters(nets.parser),
    }
    assert counts["generator_total"] == local + mask_gen + background
    return counts
