"""Shared fixtures: a tiny random-weight model registered in a throwaway MGPE_HOME."""

import os

import pytest
import torch

#: The test models: tiny widths; the background gate on, as the shipped default model has it
#: (a key missing from a config dict takes its legacy value, so it is named here).
TINY = dict(resolution=64, width=0.125, latent_dim=16, res_blocks=1, background_skip=True,
            parser=dict(base_channels=4, depth=2), discriminator=dict(base_channels=8))


def builtin_schema(name: str = "mgpe-synth-128"):
    """The label schema a built-in model edits in (read from its config.json, no weights):
    tests of what the default model does follow it when the built-in models are retrained."""
    from mgpe_core.registry import find_model, model_config, read_model_config

    return model_config(read_model_config(find_model(name).path)).model.label_schema


def make_model(root, name, eye_window="fixed", variants=None, with_parser=True, seed=0,
               **extra_meta):
    """Write a model folder with random weights (BatchNorm statistics made non-trivial);
    ``extra_meta``: more config.json fields."""
    from mgpe_core.model.build import build_networks
    from mgpe_core.model.config import MgpeConfig
    from mgpe_core.registry import write_model_folder
    from mgpe_core.typed_config import to_dict

    torch.manual_seed(seed)
    cfg = MgpeConfig.from_dict({"model": {**TINY, "eye_window": eye_window}})
    nets = build_networks(cfg.model)
    with torch.no_grad():  # eval-mode outputs of a fresh net are nearly flat: add contrast
        for m in nets.generator.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.02, 0.2)
    meta = {"name": name, "description": f"tiny random {name}", "config": cfg.to_dict(),
            "variants": variants or {}, "licence": "test", **extra_meta}
    tensors = {"generator": nets.generator.state_dict(),
               "generator_ema": nets.generator.state_dict()}
    if with_parser:
        meta["parser"] = {"config": to_dict(cfg.model.parser)}
        tensors["parser"] = nets.parser.state_dict()
    return write_model_folder(root / name, meta, tensors)


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory):
    """MGPE_HOME with models 'tiny' (its eye-mask variant: 'tiny-eyemask') and 'tiny-noparser'."""
    home = tmp_path_factory.mktemp("mgpe_home")
    models = home / "models"
    make_model(models, "tiny", variants={"eye-mask": "tiny-eyemask"})
    make_model(models, "tiny-eyemask", eye_window="mask", seed=1)
    make_model(models, "tiny-noparser", with_parser=False, seed=2)
    old = os.environ.get("MGPE_HOME")
    os.environ["MGPE_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("MGPE_HOME", None)
    else:
        os.environ["MGPE_HOME"] = old


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails the test if any model's networks are loaded: bad input, and an output that must
    not be written, are refused first (a load costs seconds; a refusal must not)."""
    import mgpe_core.registry

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the command refused")

    monkeypatch.setattr(mgpe_core.registry, "load_model", refuse)


def file_contents(root) -> dict:
    """Every file below ``root`` and its bytes: compare before and after a refused command."""
    from pathlib import Path

    return {p: p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


# -- fakes and copies shared by the plugin and model-folder tests --------------------------------

class FakeEP:
    """An entry point whose ``load()`` gives ``module`` (or raises it, when it is an
    exception: a plugin that fails at import, ``SystemExit`` and ``KeyboardInterrupt`` too)."""

    def __init__(self, name, module):
        import types

        self.name, self.value, self._module = name, f"fake:{name}", module
        self.dist = types.SimpleNamespace(version="9.9")

    def load(self):
        if isinstance(self._module, BaseException):
            raise self._module
        return self._module


def plugin_module(**hooks):
    """A module implementing the given mgpe hooks (name -> function)."""
    import types

    from mgpe_core import hookimpl

    mod = types.ModuleType("fake_plugin")
    for name, fn in hooks.items():
        setattr(mod, name, hookimpl(fn))
    return mod


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A random-weight model folder 'm', made once per module: copy it, never change it."""
    return make_model(tmp_path_factory.mktemp("pristine"), "m")


@pytest.fixture
def home(tmp_path, monkeypatch, pristine):
    """A MGPE_HOME of this test's own holding a copy of :func:`pristine` as model 'm'."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(pristine, home / "models" / "m")
    monkeypatch.setenv("MGPE_HOME", str(home))
    return home


@pytest.fixture
def one_thread():
    """One torch thread for the test (``pytest.mark.usefixtures("one_thread")``): small forward
    passes run much faster on one thread when the CPU is shared, and reference comparisons
    see the same summation order on every machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- the photos extra ------------------------------------------------------------------------

def require_mediapipe():
    """Skip a test without mediapipe, except under CI=true (a missing extra fails there)."""
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("mediapipe is missing but CI=true: install mgpe[photos] (./dev setup)")
        pytest.skip("needs the photos extra (mediapipe): pip install 'mgpe[photos]'")


@pytest.fixture
def mp():
    require_mediapipe()


@pytest.fixture(scope="module")
def astronaut():
    try:
        from skimage.data import astronaut as load
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("scikit-image is missing but CI=true: install mgpe[dev]")
        pytest.skip("needs scikit-image (the dev extra)")
    return load()
