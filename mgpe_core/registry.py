"""The model registry: named model folders, verified on load, never unpickled.

A model is a folder::

    NAME/config.json               what it is: architecture config (MgpeConfig, with the label
                                   schema's names), parser description, recipe, metrics,
                                   licence, mgpe version, weights file names, variants
    NAME/generator.safetensors     training weights of the generator
    NAME/generator_ema.safetensors EMA weights (optional; preferred when present)
    NAME/parser.safetensors        the U-Net parser (optional: without it masks must be given)
    NAME/manifest.json             SHA-256 of every other file, checked on every load

**The config is the truth**: ``config.model`` builds networks whose state dicts fit the shipped
generator tensors exactly, and ``config.model.parser`` is the shipped parser's config (as is
``parser.config``).

**A shared parser.** Instead of its own ``parser.safetensors`` a model may use another installed
model's parser: ``"parser": {"model": "mgpe-synth-128"}`` in its config.json, no ``parser``
weights of its own. The referenced model must ship parser weights itself (one hop, no chains);
its config.json and parser.safetensors are checked against its own manifest.

**Variants.** A model's config.json may name variants, ``"variants": {"eye-mask":
"mgpe-synth-128-eyemask"}``, and a variant model records what it is, ``"variant": "eye-mask",
"variant_of": "mgpe-synth-128"``. ``find_model(NAME, variant=V)`` / ``load_model(..., variant=V)``:

- V None or ``"default"``: NAME itself (also when NAME is a variant: no redirection);
- V is NAME's own ``"variant"``: NAME itself;
- V is in NAME's ``"variants"``: that model (not installed: ModelError naming both);
- NAME is a variant: also the variants its base declares (its siblings), when the base is
  installed;
- otherwise a UsageError listing the variants (``model_variants``).

**Each file is read and hashed once per load**: config.json and manifest.json are read once,
the weight files a load uses are read once and their bytes hashed and then loaded, the other
files of the model are hashed (streamed) so that a model that would fail ``verify`` never loads.
``verify`` remains the explicit check (``mgpe models verify``).

**Architectures.** ``config.model.architecture`` (also at the top of config.json) names the
networks: ``"mgpe"`` (mgpe's own generator, :class:`~mgpe_core.model.config.MgpeConfig`; the
default when absent) or ``"original"`` (the authors' release converted by ``mgpe models convert
original-mgpe``: :class:`OriginalConfig`, networks :class:`mgpe_core.model.original.OriginalMGPE`).
:func:`model_config` reads either without torch; :func:`load_model` dispatches on it, and the edit
engine runs either behind the same :class:`~mgpe_core.engine.Editor` calls.

**A parser-only model as a model's parser.** ``"parser": {"model": NAME}`` may also name a
parser-only model (a converted BiSeNet, ``"kind": "parser"``): its labels are converted to the
editing model's schema by class name and handedness (:class:`mgpe_core.engine.SchemaParser`).

Built-in models ship inside packages and are announced by plugins (``register_models``); user
models live in ``$MGPE_HOME/models/NAME`` (default ``~/.cache/mgpe``). ``import_run`` turns a
training run into a model, ``export_model`` copies one out, ``verify`` checks the hashes.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import LabelError, MgpeError, UsageError, did_you_mean
from .io import json_text, write_bytes, write_json
from .json_files import Fields, parse_json, read_json_file, validate

FORMAT = "mgpe-model"
WEIGHT_FILES = ("generator.safetensors", "generator_ema.safetensors", "parser.safetensors")
DEFAULT_MODEL = "mgpe-synth-128"
#: The variant name that always means the model asked for.
DEFAULT_VARIANT = "default"


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
    #: why the folder is unusable (``list_models(include_broken=True)`` only), else None
    problem: str | None = None

    def describe(self) -> dict:
        """What ``mgpe models list`` / ``info`` show; a ModelError naming the folder when its
        config.json is missing, not JSON, or has fields of the wrong type."""
        if self.problem is not None:
            raise ModelError(f"model {self.name} ({self.path}): {self.problem}")
        try:
            return self._describe(read_model_config(self.path))
        except ModelError:
            raise
        except MgpeError as e:  # not JSON, a typed-config field: name the model too
            raise ModelError(f"model {self.name}: {e}") from None
        except (AttributeError, TypeError, ValueError, KeyError) as e:
            raise ModelError(f"model {self.name}: {self.path / 'config.json'} has a field of "
                             f"the wrong type ({type(e).__name__}: {e})") from None

    def _describe(self, meta: dict) -> dict:
        for key in ("config", "weights", "parser", "variants", "metrics"):
            if key in meta and meta[key] is not None and not isinstance(meta[key], dict):
                raise ModelError(f"model {self.name}: {self.path / 'config.json'}: {key!r} "
                                 f"must be an object, not {type(meta[key]).__name__}")
        if isinstance(meta.get("config"), dict) and "model" in meta["config"] and \
                not isinstance(meta["config"]["model"], dict):
            raise ModelError(f"model {self.name}: {self.path / 'config.json'}: 'config.model' "
                             "must be an object")
        if not is_parser_only(meta):
            model_config(meta)  # the typed config: a field of the wrong type is a ModelError
        cfg = meta.get("config", {}).get("model", {})
        weights = meta.get("weights", {})
        shared = parser_reference(meta)
        if is_parser_only(meta):  # a converted parser: no generator, its own class order
            pinfo = meta.get("parser", {})
            cfg = {"resolution": pinfo.get("resolution"), "schema": {"name": pinfo.get("schema")}}
        elif architecture_of(meta) == "original":  # fixed eye crops, one mask encoder
            cfg = {"eye_window": "fixed", "mask_encoder": "single", **cfg}
        return {
            "name": self.name, "path": str(self.path), "source": self.source,
            "kind": meta.get("kind", "editor"),
            "architecture": (meta.get("parser", {}).get("architecture") if is_parser_only(meta)
                             else architecture_of(meta)),
            "resolution": cfg.get("resolution"), "schema": cfg.get("schema", {}).get("name"),
            "eye_window": cfg.get("eye_window"), "mask_encoder": cfg.get("mask_encoder"),
            "has_parser": "parser" in weights or shared is not None,
            "parser_from": shared,
            "has_ema": "generator_ema" in weights,
            "default_weights": meta.get("default_weights", "ema"),
            "variant": meta.get("variant"), "variant_of": meta.get("variant_of"),
            "variants": _variants(self, meta), "metrics": meta.get("metrics", {}),
            "description": meta.get("description", ""), "mgpe_version": meta.get("mgpe_version"),
            "licence": meta.get("licence"),
            # classes whose restyled colour is calibrated (mgpe_core.style_match); [] = none
            "style_match": list((meta.get("style_match") or {}).get("classes") or {}),
        }


#: The shape of a model's manifest.json: every file's SHA-256 (hex) by its name in the folder.
MANIFEST_SHAPE = Fields({"files": dict[str, str]}, required=("files",))
#: The shape of a model's config.json (the fields mgpe reads; other keys are kept). The typed
#: model config (``config.model``) is checked further by :func:`model_config`.
CONFIG_SHAPE = Fields({
    "format": str, "name": str, "kind": str, "architecture": str,
    "config": Fields({"model": dict}), "weights": dict[str, str],
    # a parser entry is its description (config object) or a reference to a model's parser
    "parser": Fields({"config": dict, "model": str, "metrics": dict | None,
                      "recipe": dict | None}),
    "variants": dict[str, str] | None, "variant": str | None,
    "variant_of": str | None, "default_weights": str, "metrics": dict | None,
    "recipe": dict | None, "description": str | None, "licence": str | None,
    "mgpe_version": str | None,
    # {component: "sample:N"}: the style of a component a donor lacks (mgpe_core.default_styles)
    "default_styles": dict[str, str] | None,
    # calibrated colour match of restyled parts (mgpe_core.style_match)
    "style_match": dict | None,
})


def _check_config(meta, path: Path) -> dict:
    """config.json's value checked: an object of format mgpe-model, each field of its type
    (ModelError naming the file and the field)."""
    where = f"model config {path / 'config.json'}"
    if isinstance(meta, dict) and meta.get("format") != FORMAT:
        raise ModelError(f"{path} is not an mgpe model folder (config.json format "
                         f"{meta.get('format')!r})")
    return validate(meta, CONFIG_SHAPE, where, ModelError)


def _member(root: Path, name: str) -> Path:
    """``root/name``, refused (ModelError) when it leads outside the model folder: a name with
    ``..`` or an absolute one in the manifest, or a symbolic link pointing out of the folder."""
    path = Path(root) / name
    try:
        real = path.resolve()
        inside = real.is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError) as e:  # a link loop
        raise ModelError(f"model folder {root}: {name}: cannot resolve ({e})") from None
    if not inside:
        raise ModelError(f"model folder {root}: {name} leads outside the folder (to {real}): "
                         "refused (a model's files must be inside its folder)")
    return path


def read_manifest(path: str | os.PathLike) -> dict[str, str]:
    """A model folder's manifest.json files table, shape-checked."""
    path = Path(path)
    data = read_json_file(_member(path, "manifest.json"), "model manifest", MANIFEST_SHAPE,
                          ModelError)
    return data["files"]


def read_model_config(path: str | os.PathLike) -> dict:
    """A model folder's config.json (unverified: to describe a model, not to load it)."""
    path = Path(path)
    meta = read_json_file(_member(path, "config.json"), "model config", error=ModelError)
    return _check_config(meta, path)


def is_parser_only(meta: dict) -> bool:
    """Whether a model is a parser only (``"kind": "parser"``: a converted face parser such as
    BiSeNet, no generator): usable by ``mgpe parse`` and as a parser, not for editing."""
    return meta.get("kind") == "parser"


def parser_only_schema(meta: dict):
    """The LabelSchema of a parser-only model: its classes in its own id order, CelebAMask-HQ's
    19 classes mapped to them by name, with its left/right convention."""
    from .errors import LabelError
    from .model.bisenet import bisenet_schema

    pinfo = meta.get("parser", {})
    try:
        return bisenet_schema(str(pinfo["schema"]), tuple(pinfo["classes"]),
                              str(pinfo.get("sides", "subject")))
    except (KeyError, TypeError, LabelError) as e:
        raise ModelError(f"model {meta.get('name')}: config.json's parser classes are not "
                         f"usable: {e}") from None


def parser_reference(meta: dict) -> str | None:
    """The model whose parser a model uses instead of its own (config.json ``"parser":
    {"model": NAME}``), or None."""
    parser = meta.get("parser")
    ref = parser.get("model") if isinstance(parser, dict) else None
    return str(ref) if ref else None


ARCHITECTURES = ("mgpe", "original")


def architecture_of(meta: dict) -> str:
    """An editing model's architecture: ``config.model.architecture``, else config.json's top
    level ``architecture``, else ``"mgpe"``; an unknown one is a ModelError."""
    model = meta.get("config", {}).get("model", {}) if isinstance(meta.get("config"), dict) \
        else {}
    arch = (model.get("architecture") if isinstance(model, dict) else None) \
        or meta.get("architecture") or "mgpe"
    if arch not in ARCHITECTURES:
        raise ModelError(f"model {meta.get('name')}: unknown architecture {arch!r} (known: "
                         f"{', '.join(ARCHITECTURES)}); a newer mgpe may read it")
    return str(arch)


@dataclass(frozen=True)
class OriginalModelConfig:
    """``config.model`` of an ``original`` model (the authors' release): fixed networks at 256 px
    over the Helen 11 classes (``mgpe-11``'s ids, image-left sides). The fields an operation or
    the CLI may ask any model for (``resolution``, ``label_schema``, ``framing``,
    ``eye_window``, ``mask_encoder``) have their meaning for the release: fixed eye crops around
    the mask's centres, one mask encoder.

    ``framing``: the original was trained on Helen faces; mgpe-synth's framing is the closer of
    the built-in two to them (docs/models.md), so a photo's face is aligned to it."""

    architecture: str = "original"
    resolution: int = 256
    schema: dict = None  # type: ignore[assignment]
    framing: str | dict = "mgpe-synth"
    eye_window: str = "fixed"
    mask_encoder: str = "single"
    enlarge_components: float = 0.1

    @classmethod
    def from_dict(cls, data: dict, name: str = "model") -> OriginalModelConfig:
        from .labels import MGPE_11_CLASSES, LabelSchema

        if not isinstance(data, dict):
            raise ModelError(f"{name}: config.model must be an object")
        res = data.get("resolution")
        if res != 256:
            raise ModelError(f"{name}: an original MGPE model works at 256 px, config.model says "
                             f"resolution {res!r}")
        try:
            schema = LabelSchema.from_dict(data["schema"])
        except Exception as e:  # noqa: BLE001 - any malformed schema entry
            raise ModelError(f"{name}: config.model.schema is not usable: {e}") from None
        if schema.classes != MGPE_11_CLASSES or schema.sides != "image":
            raise ModelError(f"{name}: an original MGPE model labels with the Helen 11 classes "
                             f"({', '.join(MGPE_11_CLASSES)}, image-left sides), not "
                             f"{schema.name} ({', '.join(schema.classes)}, {schema.sides})")
        framing = data.get("framing") or "mgpe-synth"
        from .faces.framing import get_framing

        try:
            get_framing(framing)
        except MgpeError as e:
            raise ModelError(f"{name}: config.model.framing: {e}") from None
        return cls(resolution=256, schema=dict(data["schema"]), framing=framing,
                   enlarge_components=float(data.get("label_enlargement", 0.1)))

    @property
    def label_schema(self):
        from .labels import LabelSchema

        return LabelSchema.from_dict(self.schema)


@dataclass(frozen=True)
class OriginalConfig:
    """The config of an ``original`` model: ``.model`` as in :class:`MgpeConfig`, nothing to
    train."""

    model: OriginalModelConfig
    raw: dict

    def to_dict(self) -> dict:
        return copy.deepcopy(self.raw)


def model_config(meta: dict):
    """The typed config of an editing model's config.json, without torch:
    :class:`~mgpe_core.model.config.MgpeConfig` (architecture ``mgpe``) or
    :class:`OriginalConfig` (``original``)."""
    if "config" not in meta or not isinstance(meta["config"], dict):
        raise ModelError(f"model {meta.get('name')}: config.json has no model config")
    if architecture_of(meta) == "original":
        name = f"model {meta.get('name')}"
        return OriginalConfig(OriginalModelConfig.from_dict(meta["config"].get("model"), name),
                              meta["config"])
    from .model.config import MgpeConfig

    return MgpeConfig.from_dict(meta["config"])


def recipe_location(sidecar: str | os.PathLike) -> dict:
    """Where a model's weights came from, as a recipe records it: the run folder's *name* and
    the checkpoint relative to it (``{"run": "g128", "checkpoint":
    "checkpoints/step-000003500.json"}``), never an absolute path of the machine it was
    trained on, so that a recipe reads the same anywhere."""
    sidecar = Path(os.path.abspath(sidecar))
    run = sidecar.parent.parent if sidecar.parent.name == "checkpoints" else sidecar.parent
    return {"run": run.name, "checkpoint": sidecar.relative_to(run).as_posix()}


@dataclass(frozen=True)
class EditingModel:
    """What an editing model is, from its config.json alone (milliseconds, no torch): enough
    to validate every input of an edit before any network loads (``mgpe edit``, ``mgpe
    serve``). ``config``: :class:`~mgpe_core.model.config.MgpeConfig` or
    :class:`OriginalConfig`; both give ``.model``'s resolution, label schema and framing."""

    entry: ModelEntry
    meta: dict
    has_parser: bool
    architecture: str
    config: object

    @property
    def schema(self):
        return self.config.model.label_schema

    @property
    def resolution(self) -> int:
        return int(self.config.model.resolution)


def editing_model(name: str | None = None, variant: str | None = None) -> EditingModel:
    """The :class:`EditingModel` named (default :data:`DEFAULT_MODEL`); a parser-only model is
    a UsageError saying how to use it instead."""
    entry = find_model(name or DEFAULT_MODEL, variant=variant)
    meta = read_model_config(entry.path)
    if is_parser_only(meta):
        raise UsageError(f"model {entry.name} is a face parser, not an editing model: edit "
                         f"with an editing model and let it label photos with --parser "
                         f"{entry.name}")
    has_parser = "parser" in meta.get("weights", {}) or parser_reference(meta) is not None
    return EditingModel(entry, meta, has_parser, architecture_of(meta), model_config(meta))


def _user_folders() -> list[Path]:
    """The folders in ``$MGPE_HOME/models`` that may be models (hidden ones, such as an
    interrupted import's temporary folder, are not)."""
    root = user_models_dir()
    try:
        return sorted(d for d in root.iterdir() if not d.name.startswith(".") and d.is_dir())
    except OSError:  # no folder (or not readable): no user models
        return []


def all_models(include_broken: bool = False) -> dict[str, ModelEntry]:
    """Built-in (plugin) models, then user models; a user model may not shadow a built-in (or
    a plugin's model). A user folder whose config.json exists is listed even if it is broken
    (using it is then an error naming the file; ``describe`` raises it).

    With ``include_broken``, also the user folders that are not usable models, each with its
    ``problem``: no config.json, or a name a registered model already has (named by its
    folder's name: the key is unique only among usable models)."""
    from .plugins import load_plugins

    found: dict[str, ModelEntry] = {}
    state = load_plugins()
    for name, path in state.models.items():
        owner = state.owners[("model", name)]
        kind = "builtin" if state.plugins[owner].builtin else "plugin"
        found[name] = ModelEntry(name, Path(path), f"{kind}:{owner}")
    broken: dict[str, ModelEntry] = {}
    for d in _user_folders():
        if d.name in found:
            if include_broken and found[d.name].source != "user":
                broken[f"{d.name} ({d})"] = ModelEntry(
                    d.name, d, "user",
                    f"not used: the {found[d.name].source} model {d.name!r} has this name "
                    "(rename the folder)")
            continue
        if (d / "config.json").exists():
            found[d.name] = ModelEntry(d.name, d, "user")
        elif include_broken:
            broken[d.name] = ModelEntry(d.name, d, "user", "no config.json in the folder")
    return {**found, **broken} if include_broken else found


def list_models(pattern: str | None = None, include_broken: bool = False) -> list[ModelEntry]:
    """Registered models matching the glob ``pattern``; with ``include_broken``, also the user
    folders that are not usable models (their ``problem`` says why)."""
    models = all_models(include_broken).values()
    return [m for m in models if pattern is None or fnmatch.fnmatch(m.name, pattern)]


def _lookup(text: str, models: dict[str, ModelEntry]) -> ModelEntry:
    """A registered name, or a path to a model folder."""
    if text in models:
        return models[text]
    p = Path(text).expanduser()
    if p.is_dir() and (p / "config.json").exists():
        return ModelEntry(p.name, p, "path")
    known = ", ".join(sorted(models)) or "none"
    if p.is_dir():
        raise ModelNotFound(f"{text} is a folder but not a model folder (no config.json in it); "
                            f"give a model name (known: {known}) or a model folder")
    from .plugins import PluginError, load_plugins

    clash = load_plugins().clashes.get(("model", text))
    if clash is not None:  # withdrawn because two plugins register it: name both, no guess
        raise PluginError(f"model {text!r} is registered by both plugins {clash[0]!r} and "
                          f"{clash[1]!r}, so neither is used; disable one with "
                          "MGPE_DISABLE_PLUGINS")
    hint = did_you_mean(text, models, cutoff=0.4)
    raise ModelNotFound(f"unknown model {text!r} (known: {known}).{hint}")


# -- variants ------------------------------------------------------------------------------------


def _declared_variants(entry: ModelEntry, meta: dict) -> dict[str, str]:
    """config.json's ``"variants"`` table, checked: names to model names, "default" reserved."""
    table = meta.get("variants") or {}
    if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise ModelError(f"model {entry.name}: config.json 'variants' must map variant names "
                         f"to model names, not {table!r}")
    if DEFAULT_VARIANT in table:
        raise ModelError(f"model {entry.name}: config.json 'variants' names a "
                         f"{DEFAULT_VARIANT!r} variant; that name always means the model itself")
    return dict(table)


def _variants(entry: ModelEntry, meta: dict, models: dict | None = None,
              configs: dict | None = None) -> dict[str, str]:
    """Every variant name ``entry`` resolves (see the module doc), from config.json files only:
    its base's variants (when it is a variant of an installed model), its own, itself."""
    found: dict[str, str] = {}
    base = meta.get("variant_of")
    if base:
        models = all_models() if models is None else models
        if base in models and base != entry.name:
            base_entry = models[base]
            base_meta = (configs or {}).get(base_entry.path) or read_model_config(base_entry.path)
            found.update(_declared_variants(base_entry, base_meta))
    found.update(_declared_variants(entry, meta))
    if meta.get("variant"):
        found[str(meta["variant"])] = entry.name
    return found


def model_variants(name_or_path: str | os.PathLike) -> dict[str, str]:
    """{variant name: model name} a model resolves, read from config.json files only (nothing
    is verified or loaded: cheap enough to check a request before loading anything).
    ``"default"`` is not listed: it always means the model itself."""
    entry = _lookup(str(name_or_path), all_models())
    return _variants(entry, read_model_config(entry.path))


def _resolve_variant(entry: ModelEntry, variant: str, meta: dict,
                     models: dict[str, ModelEntry], configs: dict | None = None) -> ModelEntry:
    """The model ``variant`` of ``entry`` names (``meta``: its config.json)."""
    if meta.get("variant") == variant:
        return entry
    table = _variants(entry, meta, models, configs)
    if variant not in table:
        known = ", ".join([DEFAULT_VARIANT, *sorted(table)])
        hint = did_you_mean(variant, [DEFAULT_VARIANT, *table])
        base = meta.get("variant_of")
        note = (f"; its base model {base!r}, whose variants it shares, is not installed"
                if base and base not in models else "")
        raise UsageError(f"model {entry.name} has no variant {variant!r} (its variants: "
                         f"{known}{note}).{hint}")
    target = table[variant]
    if target == entry.name:
        return entry
    if target not in models:
        hint = did_you_mean(target, models, cutoff=0.6)
        raise ModelError(f"the {variant} variant of model {entry.name}, {target!r}, is not "
                         f"installed.{hint}")
    return models[target]


def find_model(name_or_path: str | os.PathLike, variant: str | None = None) -> ModelEntry:
    """A registered name, or a path to a model folder; with ``variant``, the model that variant
    of it names (rules in the module doc)."""
    return _find(name_or_path, variant, {})


def _find(name_or_path, variant: str | None, opened: dict) -> ModelEntry:
    """find_model, keeping each folder it reads for verification in ``opened`` (so that a
    load that resolved a variant reads no config.json twice)."""
    models = all_models()
    entry = _lookup(str(name_or_path), models)
    if variant is None or variant == DEFAULT_VARIANT:
        return entry
    folder = _open(entry, opened)
    configs = {}
    base = folder.meta.get("variant_of")
    if base and base in models and base != entry.name:
        configs[models[base].path] = _open(models[base], opened).meta
    return _resolve_variant(entry, variant, folder.meta, models, configs)


# -- reading model folders -----------------------------------------------------------------------


class _ModelFolder:
    """One model folder read for a load: manifest.json and config.json once (config.json
    hashed from the bytes parsed), then, in :meth:`tensors`, each weight file used read once and
    its bytes hashed, then loaded: what is loaded is exactly what was checked."""

    def __init__(self, entry: ModelEntry):
        from .checkpoint import read_hashed

        self.entry = entry
        path = entry.path
        self.manifest = read_manifest(path)
        try:
            raw, sha = read_hashed(_member(path, "config.json"))
        except FileNotFoundError:
            raise ModelError(f"{path} is not an mgpe model folder (no config.json)") from None
        except OSError as e:
            raise ModelError(f"cannot read {path / 'config.json'}: {e.strerror or e}") from None
        self.meta = _check_config(
            parse_json(raw, "model config", path / "config.json", error=ModelError), path)
        want = self.manifest.get("config.json")
        #: problems found so far, {file: status} as ``verify`` reports them
        self.problems = {"config.json": "checksum mismatch"} if want and want != sha else {}

    @property
    def weights(self) -> dict[str, str]:
        return self.meta.get("weights", {})

    def tensors(self, keys, whole: bool = True) -> dict[str, dict]:
        """{key: tensors} of the weights groups ``keys``; ``whole``: also hash every other file
        of the manifest (streamed). Any file that does not verify: ModelError naming them."""
        from .checkpoint import read_hashed, sha256_file, tensors_from_bytes

        path = self.entry.path
        used = {self.weights[k]: k for k in keys}
        names = [n for n in self.manifest if n != "config.json"] if whole else list(used)
        problems, blobs = dict(self.problems), {}
        for name in names:
            if name not in self.manifest:
                problems[name] = "not in manifest"
                continue
            try:
                _member(path, name)
            except ModelError:
                problems[name] = "a link or name leading outside the model folder (refused)"
                continue
            try:
                if name in used:
                    blobs[name], sha = read_hashed(path / name)
                else:
                    sha = sha256_file(path / name)
            except FileNotFoundError:
                problems[name] = "missing"
                continue
            except OSError as e:
                problems[name] = f"unreadable ({e.strerror or e})"
                continue
            if sha != self.manifest[name]:
                problems[name] = "checksum mismatch"
        if whole:
            problems.update({n: "not in manifest" for n in self.weights.values()
                             if n not in self.manifest})
        if problems:
            details = ", ".join(f"{k}: {v}" for k, v in problems.items())
            raise ModelError(f"model {path} failed verification ({details}); re-import or "
                             "re-install it")
        return {key: tensors_from_bytes(blobs[name], path / name) for name, key in used.items()}


def _open(entry: ModelEntry, opened: dict | None = None) -> _ModelFolder:
    """The folder of ``entry``, read once per ``opened`` (a load's cache)."""
    if opened is None:
        return _ModelFolder(entry)
    if entry.path not in opened:
        opened[entry.path] = _ModelFolder(entry)
    return opened[entry.path]


def verify(path: str | os.PathLike) -> dict:
    """Check every file against manifest.json: {"ok", "files": {name: status}}. A model that
    uses another's parser also reports that model's config.json and parser file
    (``"MODEL:parser.safetensors"``), checked against that model's manifest."""
    path = Path(path)
    manifest = read_manifest(path)
    files = {name: _file_status(path, name, want) for name, want in manifest.items()}
    meta = read_model_config(path)
    for name in meta.get("weights", {}).values():
        if name not in manifest:
            files[name] = "not in manifest"
    ref = parser_reference(meta)
    if ref is not None:
        files.update(_verify_parser_source(ref))
    return {"path": str(path), "ok": all(v == "ok" for v in files.values()), "files": files}


def _file_status(root: Path, name: str, want: str) -> str:
    from .checkpoint import sha256_file

    try:
        file = _member(root, name)
    except ModelError:
        return "a link or name leading outside the model folder (refused)"
    try:
        return "ok" if sha256_file(file) == want else "checksum mismatch"
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"


def _verify_parser_source(ref: str) -> dict[str, str]:
    """verify()'s lines for the model whose parser is used: its config.json and parser file."""
    models = all_models()
    if ref not in models:
        return {f"{ref}:parser.safetensors": "model not installed"}
    src = models[ref]
    manifest = read_manifest(src.path)
    pfile = read_model_config(src.path).get("weights", {}).get("parser")
    out = {}
    for name in ("config.json", pfile):
        if name is None:
            out[f"{ref}:parser.safetensors"] = "no parser in that model"
        elif name not in manifest:
            out[f"{ref}:{name}"] = "not in manifest"
        else:
            out[f"{ref}:{name}"] = _file_status(src.path, name, manifest[name])
    return out


def _parser_source(folder: _ModelFolder, opened: dict | None = None) -> _ModelFolder | None:
    """The folder whose parser weights ``folder``'s model uses: its own, the referenced
    model's, or None (it has no parser)."""
    name, meta = folder.entry.name, folder.meta
    ref = parser_reference(meta)
    if ref is None:
        return folder if "parser" in folder.weights else None
    if "parser" in folder.weights:
        raise ModelError(f"model {name} both ships parser weights and names model {ref!r}'s "
                         "parser; its config.json should do one or the other")
    models = all_models()
    if ref not in models:
        hint = did_you_mean(ref, models, cutoff=0.6)
        raise ModelError(f"model {name} uses the parser of model {ref!r}, which is not "
                         f"installed.{hint}")
    src = _open(models[ref], opened)
    if is_parser_only(src.meta):  # its labels are converted by class name (SchemaParser)
        if "parser" not in src.weights:
            raise ModelError(f"model {name} uses the parser of model {ref!r}, which ships no "
                             "parser weights")
        return src
    if parser_reference(src.meta) is not None or "parser" not in src.weights:
        raise ModelError(f"model {name} uses the parser of model {ref!r}, which ships no "
                         "parser weights of its own (a parser is shared from the model that "
                         "ships it, one step)")
    return src  # another schema's labels are converted by class name (_build_parser)


def _parser_state(folder: _ModelFolder, src: _ModelFolder, states: dict) -> dict:
    """The parser tensors: from ``states`` when the model ships them, else read from ``src``
    (only its config.json and parser file are checked: the rest is that model's business)."""
    if src is folder:
        return states["parser"]
    return src.tensors({"parser"}, whole=False)["parser"]


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
    #: "mgpe" (``generator``: mgpe's Generator) or "original" (an OriginalMGPE)
    architecture: str = "mgpe"

    @property
    def schema(self):
        return self.config.model.label_schema

    @property
    def resolution(self) -> int:
        return self.config.model.resolution


def load_model(name_or_path: str | os.PathLike = DEFAULT_MODEL, device="cpu",
               weights: str | None = None, variant: str | None = None) -> LoadedModel:
    """Verify and load a model (``variant``: see the module doc). ``weights``: ``"ema"`` (the
    EMA generator, when the model has one) or ``"raw"`` (the trained generator); None = the
    model's ``default_weights`` (what its packager measured to be better; ``"ema"`` when it does
    not say)."""
    from .model.build import build_generator

    if isinstance(device, str):  # an unknown device is a usage error, not a torch traceback
        from .device import resolve_device

        device = resolve_device(device)
    opened: dict = {}
    entry = _find(name_or_path, variant, opened)
    folder = _open(entry, opened)
    meta, wfiles = folder.meta, folder.weights
    if is_parser_only(meta):
        raise UsageError(f"model {entry.name} is a face parser only (no generator): it can "
                         "parse photos (mgpe parse --model) but not edit them")
    weights = weights or meta.get("default_weights", "ema")
    if weights not in ("ema", "raw"):
        raise ModelError(f"model {entry.name}: weights must be 'ema' or 'raw', not {weights!r}")
    key = "generator_ema" if weights == "ema" and "generator_ema" in wfiles else "generator"
    if key not in wfiles:
        raise ModelError(f"model {entry.name} has no generator weights")
    arch = architecture_of(meta)
    cfg = model_config(meta)  # checked before any weight file is read
    src = _parser_source(folder, opened)
    states = folder.tensors({key, "parser"} if src is folder else {key})
    if arch == "original":
        from .convert.original import load_original

        try:
            gen = load_original(states[key])
        except RuntimeError as e:
            raise ModelError(f"model {entry.name}: weights are not the original MGPE's 11 "
                             f"networks: {e}") from None
    else:
        gen = build_generator(cfg.model)
        try:
            gen.load_state_dict(states[key])
        except RuntimeError as e:
            raise ModelError(f"model {entry.name}: weights do not fit its config: {e}") from None
    parser = None
    if src is not None and is_parser_only(src.meta):
        parser = _converted_parser(src, cfg.model.label_schema, device)
    elif src is not None:
        parser = _build_parser(entry, src, cfg, _parser_state(folder, src, states), device)
    return LoadedModel(entry.name, entry.path, meta, cfg, gen.eval().to(device), parser,
                       "ema" if key == "generator_ema" else "raw", arch)


def _converted_parser(src: _ModelFolder, schema, device):
    """A parser-only model's network with its labels converted to ``schema`` by class name and
    handedness (its config.json and parser file verified against its manifest)."""
    from .engine import SchemaParser

    parser = _build_standalone_parser(src, device, whole=False)
    return SchemaParser(parser, parser.schema, schema)


def _build_parser(entry: ModelEntry, src: _ModelFolder, cfg, state: dict, device):
    """The parser in eval mode, built from the config recorded beside its weights, in the
    schema of the model that ships it. A model may name another model's parser of another
    schema (a converted original MGPE, mgpe-11, using the built-in mgpe-13 parser): its labels
    are then converted to the model's schema by class name
    (:class:`mgpe_core.engine.SchemaParser`), as for a parser-only model."""
    from .model.config import ParserConfig
    from .model.parser import UNetParser
    from .typed_config import from_dict

    schema = cfg.model.label_schema if src.entry == entry else \
        model_config(src.meta).model.label_schema
    pcfg = from_dict(ParserConfig, src.meta["parser"]["config"], "parser.config")
    parser = UNetParser(schema, pcfg)
    try:
        parser.load_state_dict(state)
    except RuntimeError as e:
        where = "" if src.entry == entry else f" (model {src.entry.name}'s)"
        raise ModelError(f"model {entry.name}: parser weights{where} do not fit: {e}") from None
    parser = parser.eval().to(device)
    if schema == cfg.model.label_schema:
        return parser
    from .engine import SchemaParser

    return SchemaParser(parser, schema, cfg.model.label_schema)


def _require_parser(folder: _ModelFolder, opened: dict | None = None,
                    converted_ok: bool = False) -> _ModelFolder:
    """The folder of the parser ``folder``'s model uses. ``converted_ok``: that may be a
    parser-only model named by the model (its labels then need converting); copying a parser
    (import) or sharing one at import time needs an mgpe parser of the model's own classes."""
    if is_parser_only(folder.meta):
        raise ModelError(f"model {folder.entry.name} is a converted "
                         f"{folder.meta.get('parser', {}).get('architecture')} parser with its "
                         "own classes: it cannot be copied into or shared by an editing model "
                         "at import (name it in a model's config.json \"parser\": {\"model\": "
                         "...} instead: its labels are then converted by class name)")
    src = _parser_source(folder, opened)
    if src is None:
        raise ModelError(f"model {folder.entry.name} ships no parser")
    if is_parser_only(src.meta) and not converted_ok:
        raise ModelError(f"model {folder.entry.name} uses the converted parser of model "
                         f"{src.entry.name}, whose classes are its own: it cannot be copied "
                         "into another model")
    return src


def load_model_parser(name_or_path: str | os.PathLike, device="cpu"):
    """(frozen parser, its schema) of a model: ``mgpe train --parser MODEL``, ``mgpe parse``.
    Every parser has ``.parse(images in [-1, 1], N x 3 x H x W) -> ids (N, H, W)`` in that
    schema; a parser-only model (``"kind": "parser"``) gives its converted network
    (e.g. :class:`mgpe_core.model.bisenet.BiSeNetParser`, schema in its own class order); an
    editing model that names a parser-only model's parser gives it with its labels converted to
    the model's schema (:class:`mgpe_core.engine.SchemaParser`)."""
    opened: dict = {}
    folder = _open(_find(name_or_path, None, opened), opened)
    if is_parser_only(folder.meta):
        parser = _build_standalone_parser(folder, device)
        return parser, parser.schema
    src = _require_parser(folder, opened, converted_ok=True)
    cfg = model_config(folder.meta)
    if is_parser_only(src.meta):
        parser = _converted_parser(src, cfg.model.label_schema, device)
        return parser, cfg.model.label_schema
    states = folder.tensors({"parser"} if src is folder else set())
    parser = _build_parser(folder.entry, src, cfg, _parser_state(folder, src, states), device)
    for p in getattr(parser, "parser", parser).parameters():  # a SchemaParser's network
        p.requires_grad_(False)
    return parser, cfg.model.label_schema


#: Architectures of parser-only models: config.json ``parser.architecture`` -> builder.
_STANDALONE_PARSERS = ("bisenet",)


def _build_standalone_parser(folder: _ModelFolder, device, whole: bool = True):
    """A parser-only model's network, verified (every file hashed, the weights read once;
    ``whole=False``: its config.json and parser file only, as for a shared parser)."""
    entry, meta = folder.entry, folder.meta
    arch = meta.get("parser", {}).get("architecture")
    if arch not in _STANDALONE_PARSERS:
        raise ModelError(f"model {entry.name}: unknown parser architecture {arch!r} (known: "
                         f"{', '.join(_STANDALONE_PARSERS)})")
    if "parser" not in folder.weights:
        raise ModelError(f"model {entry.name} ships no parser weights")
    schema = parser_only_schema(meta)
    state = folder.tensors({"parser"}, whole=whole)["parser"]
    from .model.bisenet import BiSeNet, BiSeNetParser

    net = BiSeNet(n_classes=schema.num_classes)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise ModelError(f"model {entry.name}: parser weights do not fit: {e}") from None
    parser = BiSeNetParser(net, schema, int(meta["parser"].get("resolution", 512)))
    for p in parser.parameters():
        p.requires_grad_(False)
    return parser.eval().to(device)


def _as_float32(state: dict) -> dict:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_generator_states(name_or_path: str | os.PathLike) -> tuple[ModelEntry, dict, dict]:
    """(entry, model config.json, {"generator": state, "generator_ema": state}) of a model, in
    float32, SHA-256 checked: the weights a fine-tune starts from (``mgpe train --init-from``).
    A model without EMA weights gives its generator weights for both."""
    folder = _open(find_model(name_or_path))
    entry, wfiles = folder.entry, folder.weights
    if architecture_of(folder.meta) != "mgpe":
        raise UsageError(f"model {entry.name} is of architecture "
                         f"{architecture_of(folder.meta)!r}: mgpe trains only its own "
                         "architecture, so it cannot be fine-tuned")
    if "generator" not in wfiles and "generator_ema" not in wfiles:
        raise ModelError(f"model {entry.name} has no generator weights")
    loaded = folder.tensors({k for k in ("generator", "generator_ema") if k in wfiles})
    states = {}
    for key, other in (("generator", "generator_ema"), ("generator_ema", "generator")):
        states[key] = _as_float32(loaded[key if key in loaded else other])
    return entry, folder.meta, states


# -- writing models ------------------------------------------------------------------------------


def write_model_folder(dest: Path, meta: dict, tensors: dict[str, dict],
                       half: bool = False, overwrite: bool = False) -> Path:
    """Write a complete model folder atomically: files go to a temp folder that is renamed
    into place only when complete (a crash leaves no half-written model).

    ``half`` stores floating-point tensors as float16 (half the size; they are loaded back
    into float32 modules), which is how the built-in models fit in the package.
    ``overwrite`` replaces an existing folder: the new one is built beside it and swapped in,
    and the old one is removed only once the new one is in place (put back if the swap fails).
    """
    dest = Path(dest)
    if dest.exists() and overwrite:
        return _replace_model_folder(dest, meta, tensors, half)
    from . import __version__
    from .checkpoint import save_tensors

    if dest.exists():
        raise ModelError(f"{dest} already exists; remove it first (mgpe models remove)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(dest.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        os.chmod(tmp, _dir_mode())  # mkdtemp makes 0700 folders: a model gets the umask's
        files, weights = {}, {}
        for key, state in tensors.items():
            if half:
                state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
            fname = f"{key}.safetensors"
            files[fname] = save_tensors(tmp / fname, state)
            weights[key] = fname
        full = {"format": FORMAT, "mgpe_version": __version__, **meta, "weights": weights}
        data = json_text(full).encode()
        write_bytes(tmp / "config.json", data, durable=True)
        files["config.json"] = hashlib.sha256(data).hexdigest()
        write_json(tmp / "manifest.json", {"files": files}, durable=True)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest



def update_model_config(folder: str | os.PathLike, fields: dict) -> dict:
    """Set ``fields`` (top-level keys) in a model folder's config.json and refresh that file's
    SHA-256 in manifest.json: measured numbers or a calibration added to a model whose
    weights stay as they are. Each file is written atomically, config.json first: an
    interruption between the two leaves a model whose manifest names the old config, refused
    on load (never silently used). Returns the new config."""
    folder = Path(folder)
    config = read_json_file(_member(folder, "config.json"), "model config", error=ModelError)
    config.update(fields)
    data = json_text(config).encode()
    write_bytes(folder / "config.json", data, durable=True)
    manifest = read_json_file(_member(folder, "manifest.json"), "model manifest",
                              MANIFEST_SHAPE, ModelError)
    manifest["files"]["config.json"] = hashlib.sha256(data).hexdigest()
    write_json(folder / "manifest.json", manifest, durable=True)
    return config


def _dir_mode() -> int:
    """Permissions a plain ``mkdir`` gives a folder (the user's umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


#: A temporary folder of write_model_folder / _replace_model_folder: ``.NAME.XXXXXXXX``,
#: ``.NAME.new.XXXXXXXX`` or ``.NAME.old.XXXXXXXX`` (mkdtemp's 8 random characters).
_TEMPORARY = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.[a-z0-9_]{8}")
#: A temporary untouched this long (seconds) belongs to an interrupted command: no import
#: leaves its folder unwritten for an hour while it runs.
STALE_AFTER_S = 3600


def clean_stale_temporaries(root: Path, now: float | None = None) -> list[Path]:
    """Remove the temporary folders interrupted imports / converts left in ``root`` (hidden,
    named as :data:`_TEMPORARY`, nothing in them changed for :data:`STALE_AFTER_S`); the
    removed folders. They are never listed as models (hidden folders are not models); a
    temporary of a command running now (recently written) is left alone."""
    import time

    now = time.time() if now is None else now
    removed = []
    try:
        candidates = [d for d in Path(root).iterdir() if _TEMPORARY.fullmatch(d.name)
                      and d.is_dir() and not d.is_symlink()]
    except OSError:
        return removed
    for d in candidates:
        try:
            newest = max([d.stat().st_mtime] + [p.lstat().st_mtime for p in d.rglob("*")])
        except OSError:
            continue
        if now - newest >= STALE_AFTER_S:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _replace_model_folder(dest: Path, meta: dict, tensors: dict, half: bool) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new.", dir=dest.parent))
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
    try:
        built = write_model_folder(staging / dest.name, meta, tensors, half)
        os.replace(dest, old / dest.name)
        try:
            os.replace(built, dest)
        except OSError:
            os.replace(old / dest.name, dest)  # put the old model back
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return dest

def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise UsageError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-'")


def import_run(run: str | os.PathLike, name: str, parser: str | os.PathLike | None = None,
               description: str = "", licence: str = "unspecified",
               extra: dict | None = None, dest_root: Path | None = None,
               half: bool = False, parser_model: str | None = None) -> Path:
    """Turn a training run (newest complete checkpoint) into a registered model.

    The parser: ``parser`` (a train-parser folder or a model whose parser is copied), else the
    one the run trained with (run.json); ``parser_model`` instead names an installed model whose
    parser the new model uses without a copy of its own (``"parser": {"model": NAME}``). Either
    way the model config records that parser's config (``config.model.parser``)."""
    from .checkpoint import load_checkpoint
    from .train.runs import read_run_info, resolve_checkpoint

    _check_name(name)
    if parser is not None and parser_model is not None:
        raise UsageError("give a parser to copy or a model whose parser to use, not both")
    if dest_root is None and name in {m.name for m in list_models()}:
        raise ModelError(f"a model named {name!r} already exists")
    # the cheap checks first: run.json, the model whose parser to use
    if parser is None and parser_model is None:
        # the run's own parser (run.json), for a run folder or a checkpoint inside one
        folder = Path(run) if Path(run).is_dir() else Path(run).parent.parent \
            if Path(run).parent.name == "checkpoints" else None
        if folder is not None and (folder / "run.json").is_file():
            parser = read_run_info(folder).get("parser")
    # a converted parser (parser-only model) is referenced by name, never copied
    converted = _converted_parser_name(parser_model if parser_model is not None else parser)
    shared = (_parser_to_share(parser_model) if parser_model is not None and converted is None
              else None)
    sidecar = resolve_checkpoint(run)
    tensors, ckpt = load_checkpoint(sidecar)
    # the checkpoint's config must be a valid model config: an imported model is built from it
    from .model.config import MgpeConfig
    from .typed_config import ConfigError

    try:
        MgpeConfig.from_dict(ckpt["config"])
    except (ConfigError, LabelError) as e:
        raise ModelError(f"checkpoint {sidecar}: its config is not a valid model config: {e}"
                         ) from None
    if not isinstance(ckpt["config"].get("model"), dict) or \
            "schema" not in ckpt["config"]["model"]:
        # every checkpoint records the schema its weights were trained for: never a default
        raise ModelError(f"checkpoint {sidecar}: its config lacks model.schema (the label "
                         "schema the weights were trained for)")
    if parser is None and parser_model is None and ckpt.get("parser_model"):
        converted = _converted_parser_name(ckpt["parser_model"].get("model"))
    groups = {"generator": {}, "generator_ema": {}}
    for k, v in tensors.items():
        if k.startswith("generator."):
            groups["generator"][k[len("generator."):]] = v
        elif k.startswith("ema."):
            groups["generator_ema"][k[len("ema."):]] = v
    extra = dict(extra or {})
    recipe = {**recipe_location(sidecar), "step": ckpt["step"], **extra.pop("recipe", {})}
    config = copy.deepcopy(ckpt["config"])
    meta = {"name": name, "description": description, "licence": licence,
            "config": config, "recipe": recipe, "metrics": {}, **extra}
    classes = None
    if converted is not None:  # its labels are converted by name (SchemaParser) when used
        meta["parser"] = {"model": converted}
    elif shared is not None:
        meta["parser"] = {"model": parser_model}
        parser_cfg = shared.meta["parser"]["config"]
        classes = shared.meta["config"]["model"]["schema"]["classes"]
    elif parser is not None:
        groups["parser"], meta["parser"], classes = _parser_for_import(parser)
        parser_cfg = meta["parser"]["config"]
    if classes is not None:
        if classes != config["model"]["schema"]["classes"]:
            raise ModelError(f"parser {parser or parser_model} predicts other classes than the "
                             "model")
        config["model"]["parser"] = dict(parser_cfg)  # the config is the truth
    root = dest_root or user_models_dir()
    return write_model_folder(root / name, meta, groups, half=half)


def _converted_parser_name(spec) -> str | None:
    """The installed name of the parser-only model (a converted BiSeNet) that ``spec`` (a model
    name or folder) is, or names as its parser; None when ``spec`` is anything else."""
    from .train.parser_io import names_a_model

    if spec is None or not names_a_model(spec):
        return None
    try:
        entry = find_model(str(spec))
        meta = read_model_config(entry.path)
        if not is_parser_only(meta):
            ref = parser_reference(meta)
            if ref is None:
                return None
            entry = find_model(ref)
            meta = read_model_config(entry.path)
    except ModelNotFound:
        return None
    if not is_parser_only(meta):
        return None
    installed = all_models().get(entry.name)
    if installed is None or installed.path.resolve() != Path(entry.path).resolve():
        raise UsageError(f"the converted parser {spec} must be an installed model to be "
                         "referenced by name (`mgpe models convert ... --name NAME`)")
    return entry.name


def _parser_to_share(parser_model: str) -> _ModelFolder:
    """The folder of the installed model ``parser_model``, which must ship a parser itself."""
    models = all_models()
    if parser_model not in models:  # a reference is by name: a path would not travel
        hint = did_you_mean(parser_model, models, cutoff=0.4)
        raise UsageError(f"the model whose parser to use must be an installed model, not "
                         f"{parser_model!r}.{hint}")
    src = _require_parser(_open(models[parser_model]))
    if src.entry.name != parser_model:
        raise ModelError(f"model {parser_model} uses model {src.entry.name}'s parser: name "
                         f"{src.entry.name} instead")
    return src


def _parser_for_import(parser) -> tuple[dict, dict, list]:
    """(weights, the model config's "parser" entry, class names) of a parser given as a
    train-parser folder / parser.json, or as a model (name or folder) that ships one or uses
    another's (the weights are copied either way)."""
    from .checkpoint import load_tensors
    from .train.parser_io import names_a_model, read_parser_description, resolve_parser_path

    if names_a_model(parser):
        opened: dict = {}
        folder = _open(find_model(parser), opened)
        src = _require_parser(folder, opened)
        states = folder.tensors({"parser"} if src is folder else set())
        return (_as_float32(_parser_state(folder, src, states)), dict(src.meta["parser"]),
                src.meta["config"]["model"]["schema"]["classes"])
    pmeta_path = resolve_parser_path(parser)
    pmeta = read_parser_description(pmeta_path, ModelError)
    tensors = load_tensors(pmeta_path.with_name("parser.safetensors"), pmeta.get("sha256"))
    return (tensors, {"config": pmeta["parser"], "metrics": pmeta.get("metrics", {}),
                      "recipe": pmeta.get("recipe", {})}, pmeta["schema"]["classes"])


def export_model(name: str, dest: str | os.PathLike) -> Path:
    entry = find_model(name)
    _open(entry).tensors(set())  # every file verified (streamed), nothing loaded
    dest = Path(dest)
    if dest.exists():
        raise ModelError(f"{dest} already exists")
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        # plain copies (not the source's modes: a built-in's read-only files, a 0700 folder):
        # the exported folder gets the user's umask, as any folder they make
        shutil.copytree(entry.path, tmp, copy_function=shutil.copyfile)
        mode = _dir_mode()
        for d in [tmp, *(p for p in tmp.rglob("*") if p.is_dir() and not p.is_symlink())]:
            os.chmod(d, mode)
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
