"""Registers the models that ship inside mgpe (``mgpe_plugins/model_data/<name>/``)."""

from __future__ import annotations

from pathlib import Path

from mgpe_core import hookimpl

MODELS_DIR = Path(__file__).resolve().parent / "model_data"


@hookimpl
def register_models(register):
    if MODELS_DIR.is_dir():
        for folder in sorted(MODELS_DIR.iterdir()):
            if (folder / "config.json").exists():
                register(folder.name, folder)
