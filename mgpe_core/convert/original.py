"""The authors' MGPE release (``checkpoints/pretrained/latest_net_*.pth``) -> an mgpe model folder
of architecture ``original`` (:mod:`mgpe_core.model.original`).

The 11 files inference runs are read safely (:func:`mgpe_core.convert.pth.read_state_dict`) and
checked key by key against the networks' state dicts (the release's names: no key mapping); any
missing file, missing key, unexpected key, wrong shape or wrong kind of dtype stops the conversion
naming the file and key (the original's loader silently kept random values instead, the likely
cause of its issue #2, "random noise" outputs). A ``num_batches_tracked`` a torch 0.4.0 file lacks
is filled with 0 (unused at evaluation). The other files of the release (the five image decoders,
the parser ``P``, discriminators) are ignored with a note.

The model folder holds ``generator.safetensors`` with every used tensor under
``<file label>.<release key>`` (``G.model.0.weight``, ``encoder_mouth.fc_mu.0.weight``, ...) and a
config.json recording ``"architecture": "original"``, resolution 256, the Helen 11-class schema
(``mgpe-11``'s ids, image-left sides), every source file's SHA-256 and the licence situation. The
release's parser ``P`` is not usable for parsing photos (its issues #3 and #6), so a converted model
has no parser of its own: it may name an installed model's parser (``"parser": {"model": NAME}``),
or edit only with masks given.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import ConvertError

ARCHITECTURE = "original"
SOURCE = "original-mgpe"
PROJECT_URL = "https://github.com/cientgu/Mask_Guided_Portrait_Editing"
LICENCE = ("code: NVIDIA pix2pixHD's header (CC BY-NC-SA 4.0), no licence file in the repository; "
           "weights: no licence stated, trained on Helen: non-commercial research use at most; "
           "do not redistribute or mirror")
PARSER_NOTE = ("the release's face parser (latest_net_P.pth) is not usable for parsing photos "
               "(the original's issues #3 and #6) and is not converted: masks are given, or "
               "parsed by the model named in \"parser\"")


def file_name(label: str) -> str:
    return f"latest_net_{label}.pth"


def expected_keys(label: str) -> dict[str, tuple[tuple[int, ...], bool]]:
    """{key: (shape, is floating point)} one used file holds: its network's own state dict."""
    from ..model.original import build_network
    from .pth import expected_state

    return expected_state(build_network(label))


def check_state(label: str, state: dict, source: str | os.PathLike) -> dict:
    """One file's state dict as float32 / int64 tensors after a strict check (a missing
    ``num_batches_tracked`` alone is filled with 0)."""
    from . import pth

    return pth.check_state(state, expected_keys(label), source,
                           f"not the original MGPE's {file_name(label)}",
                           fill_suffix=".num_batches_tracked")


def read_release(folder: str | os.PathLike) -> tuple[dict, dict, list[str]]:
    """(tensors under ``<label>.<key>``, {file: SHA-256}, ignored file names) of a release folder,
    strictly checked. Every used file's presence is checked before any is read."""
    from ..checkpoint import sha256_file
    from ..model.original import USED_FILES
    from .pth import few_keys, read_state_dict

    folder = Path(folder)
    if not folder.exists():
        raise ConvertError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise ConvertError(f"{folder} is not a folder: give the folder holding the release's "
                           f"latest_net_*.pth files (checkpoints/pretrained)")
    missing = [file_name(lb) for lb in USED_FILES if not (folder / file_name(lb)).is_file()]
    if missing:
        raise ConvertError(f"{folder}: missing file{'s' if len(missing) > 1 else ''} "
                           f"{few_keys(missing)} (inference needs all of "
                           f"{len(USED_FILES)} latest_net_*.pth files)")
    used = {file_name(lb) for lb in USED_FILES}
    ignored = sorted(p.name for p in folder.glob("*.pth") if p.name not in used)
    tensors, hashes = {}, {}
    for label in USED_FILES:
        path = folder / file_name(label)
        state = check_state(label, read_state_dict(path), path)
        tensors.update({f"{label}.{k}": v for k, v in state.items()})
        hashes[path.name] = sha256_file(path)
    return tensors, hashes, ignored


def _parser_entry(parser: str | None) -> dict:
    """config.json's ``"parser"``: a reference to an installed model's parser, checked now."""
    from ..registry import all_models, is_parser_only, read_model_config

    if parser is None:
        return {}
    from ..errors import UsageError, did_you_mean

    models = all_models()
    if parser not in models:
        raise UsageError(f"no installed model named {parser!r} to parse photos for this model."
                         f"{did_you_mean(parser, models, cutoff=0.6)}")
    meta = read_model_config(models[parser].path)
    if is_parser_only(meta):
        return {"model": parser}
    if "parser" not in meta.get("weights", {}):
        raise UsageError(f"model {parser!r} ships no parser weights of its own; name a model "
                         "that does (a parser is shared from the model that ships it)")
    # a parser of other classes (the built-in mgpe-13 one) is fine: its labels are converted
    # to the original's 11 Helen classes by class name when the model is loaded
    return {"model": parser}


def model_config(name: str, hashes: dict, ignored: list[str], parser: dict,
                 description: str | None = None) -> dict:
    """The config.json content (without ``format``, version and ``weights``)."""
    from ..labels import get_schema
    from ..model import original as net

    schema = get_schema(net.SCHEMA_NAME)
    meta = {
        "name": name,
        "kind": "editor",
        "architecture": ARCHITECTURE,
        "description": description or ("the authors' MGPE release (Gu et al. CVPR 2019), "
                                        "converted: 256 px, 11 Helen classes"),
        "licence": LICENCE,
        "config": {"model": {
            "architecture": ARCHITECTURE,
            "resolution": net.RESOLUTION,
            "schema": schema.to_dict(),
            "label_convention": "Helen ids 0-10 (mgpe-11): l_eye (4) / l_brow (2) on the image's "
                                "left",
            "networks": list(net.USED_FILES),
            "latent": "encoder means (no sampling)",
            "label_enlargement": net.ENLARGE,
        }},
        "default_weights": "raw",
        "parser_note": PARSER_NOTE,
        "source": {
            "converter": SOURCE, "project": PROJECT_URL, "commit": "8bbf825",
            "files": hashes, "ignored": ignored,
        },
        "metrics": {},
    }
    if parser:
        meta["parser"] = parser
    return meta


def convert_original(folder: str | os.PathLike, dest_root: str | os.PathLike, name: str,
                     parser: str | None = None, overwrite: bool = False,
                     description: str | None = None, report=None) -> Path:
    """Convert the release folder (the 11 used ``latest_net_*.pth`` files) into the model folder
    ``dest_root/name``; returns its path. ``parser``: an installed model whose parser the new
    model uses (``"parser": {"model": NAME}``). ``overwrite`` replaces an existing folder
    atomically. ``report(text)`` gets the notes (files ignored); default: the error console."""
    from ..registry import _check_name, write_model_folder

    _check_name(name)
    dest = Path(dest_root) / name
    if dest.exists() and not overwrite:
        raise ConvertError(f"{dest} already exists; pass overwrite (--overwrite) to replace it")
    parser_entry = _parser_entry(parser)
    tensors, hashes, ignored = read_release(folder)
    if ignored:
        if report is None:
            from ..console import err_console

            report = err_console.print
        report(f"note: ignored {', '.join(ignored)} (not used by inference)")
    meta = model_config(name, hashes, ignored, parser_entry, description)
    return write_model_folder(dest, meta, {"generator": tensors}, overwrite=overwrite)


def load_original(state: dict):
    """An :class:`~mgpe_core.model.original.OriginalMGPE` in eval mode from a converted model's
    ``generator`` tensors (strict)."""
    from ..model.original import OriginalMGPE

    model = OriginalMGPE()
    model.load_state_dict(state, strict=True)
    return model.eval()
