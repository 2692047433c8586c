"""What ``mgpe train`` says about time and space (mgpe_core.train.progress) and its presets
(mgpe_core.train.presets): the checkpoint size it announces is the size it writes, the first
step's time and an ETA come after step 1, a log file gets a line from the first step on, and
``--preset cpu-small`` gives the built-in models' recipe."""

from __future__ import annotations

import json
import re

import pytest

from mgpe_cli.main import main
from mgpe_core.labels import get_schema
from mgpe_core.model.config import MgpeConfig, ParserConfig
from mgpe_core.testing import make_prepared_folder
from mgpe_core.train.presets import PRESETS, preset_overrides
from mgpe_core.train.progress import StepClock

TINY = dict(resolution=64, width=0.125, latent_dim=16, res_blocks=1,
            parser=dict(base_channels=4, depth=2), discriminator=dict(base_channels=8))


def test_step_clock_lines_are_due_by_time_not_by_step():
    t = [0.0]
    clock = StepClock(start_step=10, total=100, every=30, now=lambda: t[0])
    due = []
    for step in range(11, 101):
        t[0] += 7.0  # a 7 s step
        due.append(clock.tick(step, 7.0))
    assert clock.first(11) and not clock.first(12)
    assert due[0]  # the first step
    lines = [i + 11 for i, d in enumerate(due) if d]
    gaps = {b - a for a, b in zip(lines[1:-1], lines[2:-1], strict=False)}
    assert gaps == {5}  # 30 s / 7 s a step: every 5th step
    assert lines[-1] == 100  # and the last
    assert clock.step_time() == pytest.approx(7.0)
    assert clock.eta_text(40) == "7.00 s/step, 60 to go: ETA 7 min 00 s"


def test_first_step_is_left_out_of_the_mean():
    clock = StepClock(0, 10, 30, now=lambda: 0.0)
    for step, dt in enumerate((20.0, 2.0, 4.0), start=1):
        clock.tick(step, dt)
    assert clock.step_time() == pytest.approx(3.0)


def test_presets_apply_before_set(capsys):
    assert main(["train", "--out", "unused", "--dry-run", "--preset", "cpu-small",
                 "--set", "train.batch=3"]) == 0
    cfg = json.loads(capsys.readouterr().out)["config"]
    assert cfg["model"]["width"] == 0.25 and cfg["model"]["latent_dim"] == 256
    assert cfg["train"]["batch"] == 3  # --set wins over the preset
    assert cfg["train"]["checkpoint_every"] == 250
    assert preset_overrides("paper") == [] and preset_overrides(None) == []
    assert cfg["model"]["discriminator"]["base_channels"] == 32
    # the built-in model's config matches the preset in every field of the networks it ships
    # (generator and parser; a released model carries no discriminators)
    from mgpe_core.registry import find_model, read_model_config

    shipped = read_model_config(find_model("mgpe-synth-128").path)["config"]
    checked = 0
    for item in PRESETS["cpu-small"].overrides:
        key, value = item.split("=")
        section, *path = key.split(".")
        if section == "model" and path[0] != "discriminator":
            node = shipped["model"]
            for part in path:
                node = node[part]
            assert node == json.loads(value), key
            checked += 1
    assert checked >= 2


def test_unknown_preset(capsys):
    assert main(["train", "--out", "unused", "--dry-run", "--preset", "cpu-smal"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'cpu-smal' (known: paper, cpu-small)" in err and "cpu-small?" in err


@pytest.mark.slow
def test_a_log_gets_the_plan_first_step_and_eta(tmp_path, capsys, monkeypatch):
    """stderr is not a terminal here (captured): the plan line before step 1, the first step's
    time and ETA after it; the announced checkpoint size is within 5% of the file written.
    The generic progress line stays out (train logs its own, with losses)."""
    monkeypatch.setenv("MGPE_PROGRESS_SECONDS", "0")
    from mgpe_core.train.parser_trainer import train_parser

    data = tmp_path / "data"
    make_prepared_folder(data, count=6, size=64, schema_name="mgpe-11", seed=0)
    train_parser(data, tmp_path / "parser", get_schema("mgpe-11"), steps=1, batch=2,
                 cfg=ParserConfig(base_channels=4, depth=2))
    cfg = MgpeConfig.from_dict({"model": TINY, "train": {"batch": 2, "ema_bn_batches": 1,
                                                        "sample_every": 1000}})
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    code = main(["train", "--data", str(data), "--parser", str(tmp_path / "parser"), "--out",
                 str(tmp_path / "run"), "--config", str(tmp_path / "cfg.json"), "--steps", "2",
                 "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    flat = " ".join(err.split())
    plan = re.search(r"a checkpoint is about (\d+) MB", flat)
    assert plan and "2 step(s) to go at 64 px, batch 2" in flat, flat
    expected = re.search(r"expected about ([\d.]+) s a step", flat)
    assert expected and float(expected.group(1)) > 0, flat
    assert flat.index("a checkpoint is about") < flat.index("first step:")
    assert re.search(r"first step: [\d.]+ s; [\d.]+ s/step, 1 to go: ETA", flat), flat
    assert "training:" not in flat
    written = sum(p.stat().st_size for p in (tmp_path / "run" / "checkpoints").glob("step-*"))
    announced = int(plan.group(1)) * 1e6
    assert abs(written - announced) <= max(0.05 * written, 1e6), (written, announced)
