"""The model registry: named model folders, verified on load, never unpickled.

A model is a folder::

    NAME/config.json               what it is: architecture config (MgpeConfig, with the label
                                   schema's names), parser description, recipe, metrics,
                                   licence, mgpe version, weights file names, variants
    NAME/generator.safetensors     training weights of the generator
    NAME/generator_ema.safetensors EMA weights (optional; preferred when present)
    NAME/parser.safetensors        the U-Net parser (optional: without it masks must be given)
    NAME/manifest.json             SHA-256 of every other file, checked on every load

Built-in models ship inside packages and are announced by plugins (``register_models``); user
models live in ``$MGPE_HOME/models/NAME`` (default ``~/.cache/mgpe``). ``import_run`` turns a
training run into a model, ``export_model`` copies one out, ``verify`` checks the hashes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import MgpeError, UsageError, did_you_mean
from .io import read_json, write_json

FORMAT = "mgpe-model"
WEIGHT_FILES = ("generator.safetensors", "generator_ema.safetensors", "parser.safetensors")
DEFAULT_MODEL = "mgpe-synth-128"


class ModelNotFound(UsageError):
    """No model of that name: the message suggests close matches."""


class ModelError(MgpeError):
    """A model folder is incomplete, corrupt or inconsistent."""


def mgpe_home() -> Path:
    env = os.environ.get("MGPE_HOME")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "mgpe"


def user_models_dir() -> Path:
    return mgpe_home() / "models"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    source: str  # "builtin:<plugin>", "plugin:<plugin>", "user" or "path"

    def describe(self) -> dict:
        meta = read_model_config(self.path)
        cfg = meta.get("config", {}).get("model", {})
        return {
            "name": self.name, "path": str(self.path), "source": self.source,
            "resolution": cfg.get("resolution"), "schema": cfg.get("schema", {}).get("name"),
            "eye_window": cfg.get("eye_window"), "mask_encoder": cfg.get("mask_encoder"),
            "has_parser": "parser.safetensors" in meta.get("weights", {}).values(),
            "has_ema": "generator_ema.safetensors" in meta.get("weights", {}).values(),
            "default_weights": meta.get("default_weights", "ema"),
            "variants": meta.get("variants", {}), "metrics": meta.get("metrics", {}),
            "description": meta.get("description", ""), "mgpe_version": meta.get("mgpe_version"),
            "licence": meta.get("licence"),
        }


def read_model_config(path: Path) -> dict:
    meta = read_json(Path(path) / "config.json", "model config")
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path} is not an mgpe model folder (config.json format "
                         f"{meta.get('format')!r})")
    return meta


def all_models() -> dict[str, ModelEntry]:
    """Built-in (plugin) models, then user models; a user model may not shadow a built-in."""
    from .plugins import load_plugins

    found: dict[str, ModelEntry] = {}
    state = load_plugins()
    for name, path in state.models.items():
        owner = state.owners[("model", name)]
        kind = "builtin" if state.plugins[owner].builtin else "plugin"
        found[name] = ModelEntry(name, Path(path), f"{kind}:{owner}")
    root = user_models_dir()
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if (d / "config.json").exists() and d.name not in found:
                found[d.name] = ModelEntry(d.name, d, "user")
    return found


def list_models(pattern: str | None = None) -> list[ModelEntry]:
    models = all_models().values()
    return [m for m in models if pattern is None or fnmatch.fnmatch(m.name, pattern)]


def find_model(name_or_path: str | os.PathLike) -> ModelEntry:
    """A registered name, or a path to a model folder."""
    text = str(name_or_path)
    models = all_models()
    if text in models:
        return models[text]
    p = Path(text).expanduser()
    if p.is_dir() and (p / "config.json").exists():
        return ModelEntry(p.name, p, "path")
    known = ", ".join(sorted(models)) or "none"
    if p.is_dir():
        raise ModelNotFound(f"{text} is a folder but not a model folder (no config.json in it); "
                            f"give a model name (known: {known}) or a model folder")
    hint = did_you_mean(text, models, cutoff=0.4)
    raise ModelNotFound(f"unknown model {text!r} (known: {known}).{hint}")


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | os.PathLike) -> dict:
    """Check every file against manifest.json: {"ok", "files": {name: status}}."""
    path = Path(path)
    manifest = read_json(path / "manifest.json", "model manifest")
    files = {}
    for name, want in manifest.get("files", {}).items():
        f = path / name
        if not f.exists():
            files[name] = "missing"
        else:
            files[name] = "ok" if _sha(f) == want else "checksum mismatch"
    meta = read_model_config(path)
    for name in meta.get("weights", {}).values():
        if name not in manifest.get("files", {}):
            files[name] = "not in manifest"
    return {"path": str(path), "ok": all(v == "ok" for v in files.values()), "files": files}


def _require_verified(path: Path) -> dict:
    report = verify(path)
    bad = {k: v for k, v in report["files"].items() if v != "ok"}
    if bad:
        details = ", ".join(f"{k}: {v}" for k, v in bad.items())
        raise ModelError(f"model {path} failed verification ({details}); re-import or "
                         "re-install it")
    return report


def _open_verified(name_or_path: str | os.PathLike) -> tuple[ModelEntry, dict, dict]:
    """(entry, config.json, SHA-256 of each file) of a model whose files all verify."""
    entry = find_model(name_or_path)
    meta = read_model_config(entry.path)
    _require_verified(entry.path)
    return entry, meta, read_json(entry.path / "manifest.json")["files"]


def _weights(entry: ModelEntry, meta: dict, sha: dict, key: str) -> dict:
    """One weights group (``generator``, ``generator_ema``, ``parser``), SHA-256 checked."""
    from .checkpoint import load_tensors

    file = meta["weights"][key]
    return load_tensors(entry.path / file, sha[file])


@dataclass
class LoadedModel:
    """Networks of a model, ready for the edit engine."""

    name: str
    path: Path
    meta: dict
    config: object  # MgpeConfig
    generator: object
    parser: object | None
    weights: str  # "ema" or "raw"

    @property
    def schema(self):
        return self.config.model.label_schema

    @property
    def resolution(self) -> int:
        return self.config.model.resolution


def load_model(name_or_path: str | os.PathLike = DEFAULT_MODEL, device="cpu",
               weights: str | None = None) -> LoadedModel:
    """Verify and load a model. ``weights``: ``"ema"`` (the EMA generator, when the model has
    one) or ``"raw"`` (the trained generator); None = the model's ``default_weights`` (what its
    packager measured to be better; ``"ema"`` when it does not say)."""
    from .model.build import build_generator
    from .model.config import MgpeConfig

    if isinstance(device, str):  # an unknown device is a usage error, not a torch traceback
        from .device import resolve_device

        device = resolve_device(device)
    entry, meta, sha = _open_verified(name_or_path)
    path = entry.path
    cfg = MgpeConfig.from_dict(meta["config"])
    wfiles = meta.get("weights", {})
    weights = weights or meta.get("default_weights", "ema")
    if weights not in ("ema", "raw"):
        raise ModelError(f"model {entry.name}: weights must be 'ema' or 'raw', not {weights!r}")
    key = "generator_ema" if weights == "ema" and "generator_ema" in wfiles else "generator"
    if key not in wfiles:
        raise ModelError(f"model {entry.name} has no generator weights")
    gen = build_generator(cfg.model)
    try:
        gen.load_state_dict(_weights(entry, meta, sha, key))
    except RuntimeError as e:
        raise ModelError(f"model {entry.name}: weights do not fit its config: {e}") from None
    parser = _load_parser(entry, meta, sha, cfg, device) if "parser" in wfiles else None
    return LoadedModel(entry.name, path, meta, cfg, gen.eval().to(device), parser,
                       "ema" if key == "generator_ema" else "raw")


def _load_parser(entry: ModelEntry, meta: dict, sha: dict, cfg, device):
    """The model's parser in eval mode (config as recorded; the model is verified)."""
    from .model.config import ParserConfig
    from .model.parser import UNetParser
    from .typed_config import from_dict

    pcfg = from_dict(ParserConfig, meta["parser"]["config"], "parser.config")
    parser = UNetParser(cfg.model.label_schema, pcfg)
    try:
        parser.load_state_dict(_weights(entry, meta, sha, "parser"))
    except RuntimeError as e:
        raise ModelError(f"model {entry.name}: parser weights do not fit: {e}") from None
    return parser.eval().to(device)


def _require_parser(entry: ModelEntry, meta: dict) -> None:
    if "parser" not in meta.get("weights", {}):
        raise ModelError(f"model {entry.name} ships no parser")


def load_model_parser(name_or_path: str | os.PathLike, device="cpu"):
    """(frozen parser, its config schema) of a model: ``mgpe train --parser MODEL``."""
    from .model.config import MgpeConfig

    entry, meta, sha = _open_verified(name_or_path)
    _require_parser(entry, meta)
    cfg = MgpeConfig.from_dict(meta["config"])
    parser = _load_parser(entry, meta, sha, cfg, device)
    for p in parser.parameters():
        p.requires_grad_(False)
    return parser, cfg.model.label_schema


def _as_float32(state: dict) -> dict:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_generator_states(name_or_path: str | os.PathLike) -> tuple[ModelEntry, dict, dict]:
    """(entry, model config.json, {"generator": state, "generator_ema": state}) of a model, in
    float32, SHA-256 checked: the weights a fine-tune starts from (``mgpe train --init-from``).
    A model without EMA weights gives its generator weights for both."""
    entry, meta, sha = _open_verified(name_or_path)
    wfiles = meta.get("weights", {})
    if "generator" not in wfiles and "generator_ema" not in wfiles:
        raise ModelError(f"model {entry.name} has no generator weights")
    states = {}
    for key, other in (("generator", "generator_ema"), ("generator_ema", "generator")):
        states[key] = _as_float32(_weights(entry, meta, sha, key if key in wfiles else other))
    return entry, meta, states


# -- writing models ------------------------------------------------------------------------------


def write_model_folder(dest: Path, meta: dict, tensors: dict[str, dict],
                       half: bool = False) -> Path:
    """Write a complete model folder atomically: files go to a temp folder that is renamed
    into place only when complete (a crash leaves no half-written model).

    ``half`` stores floating-point tensors as float16 (half the size; they are loaded back
    into float32 modules), which is how the built-in models fit in the package."""
    from . import __version__
    from .checkpoint import save_tensors

    dest = Path(dest)
    if dest.exists():
        raise ModelError(f"{dest} already exists; remove it first (mgpe models remove)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        files, weights = {}, {}
        for key, state in tensors.items():
            if half:
                state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
            fname = f"{key}.safetensors"
            files[fname] = save_tensors(tmp / fname, state)
            weights[key] = fname
        full = {"format": FORMAT, "mgpe_version": __version__, **meta, "weights": weights}
        write_json(tmp / "config.json", full, durable=True)
        files["config.json"] = _sha(tmp / "config.json")
        write_json(tmp / "manifest.json", {"files": files}, durable=True)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise UsageError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-'")


def import_run(run: str | os.PathLike, name: str, parser: str | os.PathLike | None = None,
               description: str = "", licence: str = "unspecified",
               extra: dict | None = None, dest_root: Path | None = None,
               half: bool = False) -> Path:
    """Turn a training run (newest complete checkpoint) into a registered model."""
    from .checkpoint import load_checkpoint
    from .train.runs import resolve_checkpoint

    _check_name(name)
    if dest_root is None and name in {m.name for m in list_models()}:
        raise ModelError(f"a model named {name!r} already exists")
    sidecar = resolve_checkpoint(run)
    tensors, ckpt = load_checkpoint(sidecar)
    groups = {"generator": {}, "generator_ema": {}}
    for k, v in tensors.items():
        if k.startswith("generator."):
            groups["generator"][k[len("generator."):]] = v
        elif k.startswith("ema."):
            groups["generator_ema"][k[len("ema."):]] = v
    extra = dict(extra or {})
    recipe = {"run": str(Path(run)), "step": ckpt["step"], **extra.pop("recipe", {})}
    meta = {"name": name, "description": description, "licence": licence,
            "config": ckpt["config"], "recipe": recipe, "metrics": {}, **extra}
    run_json = Path(run) / "run.json"
    if parser is None and run_json.exists():
        parser = read_json(run_json).get("parser")
        # runs written by older versions stored the path as typed: relative to where training
        # ran, usually the run folder's parent (a model name stays a name)
        if parser and not Path(parser).is_absolute() and not Path(parser).exists() and \
                (Path(run).resolve().parent / parser).exists():
            parser = str(Path(run).resolve().parent / parser)
    if parser is not None:
        groups["parser"], meta["parser"], classes = _parser_for_import(parser)
        if classes != ckpt["config"]["model"]["schema"]["classes"]:
            raise ModelError(f"parser {parser} predicts other classes than the model")
    root = dest_root or user_models_dir()
    return write_model_folder(root / name, meta, groups, half=half)


def _parser_for_import(parser) -> tuple[dict, dict, list]:
    """(weights, the model config's "parser" entry, class names) of a parser given as a
    train-parser folder / parser.json, or as a model (name or folder) that ships one."""
    from .checkpoint import load_tensors
    from .train.parser_io import FORMAT as PARSER_FORMAT
    from .train.parser_io import names_a_model, resolve_parser_path

    if names_a_model(parser):
        entry, meta, sha = _open_verified(parser)
        _require_parser(entry, meta)
        return (_as_float32(_weights(entry, meta, sha, "parser")), dict(meta["parser"]),
                meta["config"]["model"]["schema"]["classes"])
    pmeta_path = resolve_parser_path(parser)
    pmeta = read_json(pmeta_path, "parser description")
    if pmeta.get("format") != PARSER_FORMAT:
        raise ModelError(f"{pmeta_path} does not describe an mgpe parser "
                         "(give a parser folder or its parser.json, from `mgpe train-parser`)")
    tensors = load_tensors(pmeta_path.with_name("parser.safetensors"), pmeta.get("sha256"))
    return (tensors, {"config": pmeta["parser"], "metrics": pmeta.get("metrics", {}),
                      "recipe": pmeta.get("recipe", {})}, pmeta["schema"]["classes"])


def export_model(name: str, dest: str | os.PathLike) -> Path:
    entry = find_model(name)
    _require_verified(entry.path)
    dest = Path(dest)
    if dest.exists():
        raise ModelError(f"{dest} already exists")
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(entry.path, tmp)
        os.replace(tmp, dest)
    except OSError as e:  # a file in the way, no permission, disk full: leave nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"cannot export to {dest}: {e.strerror or e}") from None
    return dest


def remove_model(name: str) -> Path:
    entry = find_model(name)
    if entry.source != "user":
        raise UsageError(f"model {name!r} is {entry.source}; only user models can be removed")
    shutil.rmtree(entry.path)
    return entry.path
