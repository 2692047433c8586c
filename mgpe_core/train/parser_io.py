"""Saving and loading a trained face parser: ``parser.safetensors`` + ``parser.json``.

The JSON names the parser architecture, the label schema (with class names), the resolution it
was trained at, its measured metrics and the SHA-256 of the weights, checked on load.
"""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import CheckpointError, load_tensors, save_tensors
from ..errors import MgpeError
from ..io import write_json
from ..json_files import Fields, read_json_file, validate
from ..labels import LabelSchema
from ..model.config import ParserConfig
from ..typed_config import from_dict, to_dict

FORMAT = "mgpe-parser"
#: The shape of parser.json (the fields mgpe reads; other keys are kept).
DESCRIPTION_SHAPE = Fields({
    "format": str, "parser": dict, "schema": Fields({"classes": list[str]}, required=("classes",)),
    "resolution": int | None, "metrics": dict | None, "recipe": dict | None,
    "sha256": str | None,
}, required=("format", "parser", "schema"))


def read_parser_description(path: str | Path,
                            error: type[MgpeError] = CheckpointError) -> dict:
    """A parser.json, checked: JSON, of format mgpe-parser, its fields of their types; any
    problem is one ``error`` naming the file (and the field)."""
    path = Path(path)
    meta = read_json_file(path, "parser description", error=error)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise error(f"{path} does not describe an mgpe parser (give a parser folder or its "
                    "parser.json, from `mgpe train-parser`)")
    return validate(meta, DESCRIPTION_SHAPE, f"parser description {path}", error)


#: The files of a parser folder (``mgpe train-parser --out``), written in this order.
PARSER_FILES = ("parser.safetensors", "parser.json")


def save_parser(folder: str | Path, parser, cfg: ParserConfig, schema: LabelSchema,
                resolution: int, metrics: dict | None = None, extra: dict | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights, description = (folder / name for name in PARSER_FILES)
    sha = save_tensors(weights, parser.state_dict())
    meta = {
        "format": FORMAT, "parser": to_dict(cfg), "schema": schema.to_dict(),
        "resolution": resolution, "metrics": metrics or {}, "sha256": sha, **(extra or {}),
    }
    write_json(description, meta)
    return description


def resolve_parser_path(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / "parser.json"
    elif path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.exists():
        raise CheckpointError(f"parser not found: {path} (train one with `mgpe train-parser`)")
    return path


def names_a_model(path: str | Path) -> bool:
    """A parser argument that is not a parser folder / file but a model (a registered name, or
    a model folder with config.json) whose parser is meant."""
    path = Path(path)
    if (path / "parser.json").exists() or path.suffix in (".json", ".safetensors"):
        return False
    return not path.exists() or (path / "config.json").exists()


def read_parser_folder(path: str | Path) -> tuple[Path, dict, ParserConfig, LabelSchema]:
    """(parser.json path, its checked description, U-Net config, schema) of a train-parser
    folder or file, without reading the weights; any problem is one CheckpointError."""
    meta_path = resolve_parser_path(path)
    meta = read_parser_description(meta_path)
    try:
        cfg = from_dict(ParserConfig, meta["parser"], "parser")
        schema = LabelSchema.from_dict(meta["schema"])
    except (MgpeError, ValueError, TypeError) as e:
        raise CheckpointError(f"parser description {meta_path}: {e}") from None
    return meta_path, meta, cfg, schema


def load_parser(path: str | Path, device="cpu"):
    """(UNetParser in eval mode, frozen; metadata). Checks the weights' SHA-256. ``path``: a
    parser folder or file, or else a model (name or folder) whose parser is used."""
    from ..model.parser import UNetParser

    if names_a_model(path):
        from ..registry import ModelNotFound, load_model_parser

        try:
            parser, schema = load_model_parser(path, device)
        except ModelNotFound:
            raise CheckpointError(f"parser not found: {path} (give a parser folder, its "
                                  "parser.json or a model name; train one with "
                                  "`mgpe train-parser`)") from None
        return parser, {"format": FORMAT, "schema_obj": schema, "model": str(path)}
    meta_path, meta, cfg, schema = read_parser_folder(path)
    parser = UNetParser(schema, cfg)
    tensors = load_tensors(meta_path.with_name("parser.safetensors"), meta.get("sha256"))
    from ..checkpoint import load_module_state

    # a short message (counts and the first few mismatches), not torch's full key list
    load_module_state(parser, tensors, f"parser {meta_path}:")
    parser.eval().to(device)
    for p in parser.parameters():
        p.requires_grad_(False)
    return parser, {**meta, "schema_obj": schema}


def load_training_parser(path: str | Path, schema: LabelSchema, device="cpu",
                         input_size: int | None = None):
    """(frozen parser for the parsing loss, metadata) for a run whose labels are in ``schema``.

    An mgpe parser (a train-parser folder, or a model's U-Net parser) is returned as
    :func:`load_parser` gives it: logits in its schema, which the trainer checks. A converted
    parser (a parser-only model such as a BiSeNet, named directly or as the parser an editing
    model names) predicts its own classes in its own order and handedness: it is wrapped in a
    :class:`~mgpe_core.model.mapped_parser.MappedParser` giving log-probabilities over
    ``schema``'s classes (``input_size``: the size it runs at, default its own, 512 for
    BiSeNet), and ``metadata["converted"]`` describes it for the run's record: ``model`` (the
    registered name to reference), ``architecture``, its schema and input size."""
    from ..model.mapped_parser import MappedParser
    from ..model.parser import UNetParser

    parser, meta = load_parser(path, device)
    if isinstance(parser, UNetParser):
        return parser, meta
    inner, own = parser, meta["schema_obj"]
    if hasattr(parser, "src_schema"):  # an editing model naming a parser-only model's parser
        inner, own = parser.parser, parser.src_schema
    mapped = MappedParser(inner, schema, input_size).to(device)
    name, architecture = _converted_parser_model(path)
    record = {"model": name, "architecture": architecture, **mapped.describe()}
    return mapped, {**meta, "schema_obj": schema, "source_schema_obj": own, "converted": record}


def _converted_parser_model(path: str | Path) -> tuple[str, str | None]:
    """(name, architecture) of the parser-only model whose network a model argument names: the
    model itself, or the one its config.json's ``"parser": {"model": NAME}`` references."""
    from ..registry import find_model, is_parser_only, parser_reference, read_model_config

    entry = find_model(str(path))
    meta = read_model_config(entry.path)
    if not is_parser_only(meta):
        ref = parser_reference(meta)
        entry = find_model(ref)
        meta = read_model_config(entry.path)
    return entry.name, meta.get("parser", {}).get("architecture")
