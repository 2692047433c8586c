"""face-parsing.PyTorch's BiSeNet face parser (``79999_iter.pth``) -> an mgpe parser-only model.

The file is read safely (:func:`mgpe_core.convert.pth.read_state_dict`), checked key by key
against the state dict of :class:`mgpe_core.model.bisenet.BiSeNet` (whose names are the
release's: no key mapping), and written as a model folder holding ``parser.safetensors`` and a
config.json that records the architecture, the class list in BiSeNet's own id order with its
left/right convention (CelebAMask-HQ's: the subject's left), the preprocessing, the source file's
SHA-256 and the licence situation. The weights are never shipped with mgpe: a user converts the
file they downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import ConvertError

ARCHITECTURE = "bisenet"
SOURCE = "bisenet-face-parsing"
PROJECT_URL = "https://github.com/zllrunning/face-parsing.PyTorch"
#: SHA-256 reported for third-party copies of the release (not verified against the original).
KNOWN_RELEASE_SHA256 = "468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567"
LICENCE = ("code: MIT (face-parsing.PyTorch, Copyright (c) 2019 zll); weights: no licence of "
           "their own, trained on CelebAMask-HQ, whose agreement allows non-commercial "
           "research use only: do not redistribute or use commercially")
#: Name of the label schema of the model's own class order.
SCHEMA_NAME = "bisenet-19"


def expected_keys() -> dict[str, tuple[tuple[int, ...], bool]]:
    """{key: (shape, is floating point)} the release holds: the module's own state dict."""
    from ..model.bisenet import BiSeNet
    from .pth import expected_state

    return expected_state(BiSeNet())


def check_state(state: dict, source: str | os.PathLike) -> dict:
    """The state dict as float32 / int64 tensors, after a strict check: any missing key,
    unexpected key, wrong shape or wrong kind of dtype stops with a message naming it."""
    from . import pth

    return pth.check_state(state, expected_keys(), source,
                           "not a BiSeNet face-parsing checkpoint")


def parser_description() -> dict:
    """config.json's ``"parser"`` entry: what the network is and how to feed it."""
    from ..model import bisenet as net

    return {
        "architecture": ARCHITECTURE,
        "config": {"n_classes": len(net.BISENET_CLASSES)},
        "classes": list(net.BISENET_CLASSES),
        "sides": "subject",
        "schema": SCHEMA_NAME,
        "resolution": net.NATIVE_SIZE,
        "size_multiple": net.SIZE_MULTIPLE,
        "preprocessing": {
            "resize": f"any picture to {net.NATIVE_SIZE}x{net.NATIVE_SIZE}, bilinear",
            "channels": "RGB",
            "scale": "uint8 / 255",
            "mean": list(net.IMAGENET_MEAN),
            "std": list(net.IMAGENET_STD),
            "output": "main head (output 0), 19 logits upsampled bilinear, align_corners=True; "
                      "labels = argmax",
        },
    }


def convert_bisenet(pth_path: str | os.PathLike, dest_root: str | os.PathLike, name: str,
                    overwrite: bool = False, description: str | None = None) -> Path:
    """Convert ``79999_iter.pth`` (or a file with exactly its keys and shapes) into the model
    folder ``dest_root/name``; returns its path. ``overwrite`` replaces an existing folder
    (atomically: the old one stays until the new one is complete)."""
    from ..checkpoint import sha256_file
    from ..registry import _check_name, write_model_folder
    from .pth import read_state_dict

    _check_name(name)
    pth_path = Path(pth_path)
    dest = Path(dest_root) / name
    if dest.exists() and not overwrite:
        raise ConvertError(f"{dest} already exists; pass overwrite (--overwrite) to replace it")
    state = check_state(read_state_dict(pth_path), pth_path)
    sha = sha256_file(pth_path)
    meta = {
        "name": name,
        "kind": "parser",
        "description": description or ("BiSeNet face parser (face-parsing.PyTorch, ResNet-18), "
                                        "19 CelebAMask-HQ classes, converted from "
                                        f"{pth_path.name}"),
        "licence": LICENCE,
        "architecture": ARCHITECTURE,
        "parser": parser_description(),
        "source": {
            "converter": SOURCE, "project": PROJECT_URL, "file": pth_path.name,
            "sha256": sha, "bytes": pth_path.stat().st_size,
            "known_release": sha == KNOWN_RELEASE_SHA256,
        },
        "metrics": {},
    }
    return write_model_folder(dest, meta, {"parser": state}, overwrite=overwrite)
