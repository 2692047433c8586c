"""Wrong, partial or stuck (issue 21): a full disk in `data prepare`, checkpoints that are all
corrupt, leftover temporaries of a killed checkpoint write, a FIFO given as an image, Ctrl-C,
weights that do not fit, missing files in a prepared set. Each: the exit code, one message, no
traceback, nothing claimed done that was not."""

import errno
import json
import os
import subprocess
import sys

import click
import pytest
import test_train
import torch
from test_prepare import make_layout
from test_train import _trainer, tiny_cfg

from mgpe_cli.main import main
from mgpe_core.checkpoint import CheckpointError, clean_temporaries, load_module_state
from mgpe_core.data import prepare as prepare_mod
from mgpe_core.errors import DatasetError
from mgpe_core.testing import make_prepared_folder

data_and_parser = test_train.data_and_parser  # the module's training data and parser (a fixture)


def _run(capsys, *args):
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


# -- 1. disk full during `data prepare` ------------------------------------------------------


def test_disk_full_in_prepare_is_a_failure(tmp_path, monkeypatch, capsys):
    root = tmp_path / "celeba"
    make_layout(root, range(0, 6))
    real = prepare_mod.write_bytes
    written = []

    def full_after_four(path, data, durable=False):
        if len(written) >= 4:  # two faces (image + labels each), then the disk is full
            # what atomic_write raises: its message, the OSError kept as the context
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError as e:
                raise prepare_mod.MgpeError(f"cannot write {path}: {e.strerror}") from None
        written.append(path)
        real(path, data, durable)

    monkeypatch.setattr(prepare_mod, "write_bytes", full_after_four)
    out = tmp_path / "p"
    code, stdout, err = _run(capsys, "data", "prepare", str(root), str(out), "--size", "32")
    assert code == 1, (stdout, err)
    assert "disk is full" in err and "No space left on device" in err
    assert "prepared 0" not in stdout + err and "Traceback" not in err
    assert err.count("Error:") == 1
    assert not (out / "manifest.json").exists()
    # the faces done are kept: a re-run with space finishes them
    monkeypatch.setattr(prepare_mod, "write_bytes", real)
    summary = prepare_mod.prepare_dataset(root, out, size=32)
    assert summary["prepared"] == 6 and summary["reused"] == 2 and not summary["skipped"]


def test_bad_data_stays_a_skip(tmp_path):
    root = tmp_path / "celeba"
    make_layout(root, range(0, 3))
    (root / "CelebA-HQ-img" / "1.jpg").write_bytes(b"not a jpeg")
    summary = prepare_mod.prepare_dataset(root, tmp_path / "p", size=32)
    assert set(summary["skipped"]) == {1} and summary["prepared"] == 2


# -- 2. all checkpoints corrupt, 3. leftover temporaries; stats once per step -----------------


@pytest.mark.slow
def test_all_checkpoints_corrupt_refuses_then_fresh_starts_over(data_and_parser, tmp_path):
    data, parser_dir, _ = data_and_parser
    run = tmp_path / "run"
    cfg = tiny_cfg(checkpoint_every=1, keep_checkpoints=2)
    _trainer(cfg, data, parser_dir, run).run(2)
    ckpts = run / "checkpoints"
    for p in ckpts.glob("*.safetensors"):
        p.write_bytes(p.read_bytes()[:100])
    leftover = ckpts / ".step-000000003.safetensors.abc123.tmp"
    leftover.write_bytes(b"half")
    logs = []
    t = _trainer(cfg, data, parser_dir, run)
    t.log = logs.append
    with pytest.raises(CheckpointError, match="none of the 2 checkpoint") as e:
        t.resume("auto")
    assert "--resume fresh" in str(e.value) and "step-000000002" in str(e.value)
    assert not leftover.exists() and any("temporary" in m for m in logs)
    assert t.resume("fresh") is False and t.step == 0
    assert not ckpts.exists() and (run / "checkpoints.discarded-1" / "stats.jsonl").exists()
    t.run(1)
    steps = [json.loads(x)["step"] for x in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [1]


@pytest.mark.slow
def test_stats_keep_one_record_per_step_after_resume(data_and_parser, tmp_path):
    data, parser_dir, _ = data_and_parser
    run = tmp_path / "run"
    cfg = tiny_cfg(checkpoint_every=2, keep_checkpoints=3)
    _trainer(cfg, data, parser_dir, run).run(3)
    # killed after step 3 was logged, before its checkpoint: the newest is step 2
    (run / "checkpoints" / "step-000000003.json").unlink()
    with open(run / "stats.jsonl", "a") as f:
        f.write('{"step": 4, "cut')  # a line cut by the kill
    t = _trainer(cfg, data, parser_dir, run)
    assert t.resume("auto") and t.step == 2
    t.run(4)
    steps = [json.loads(x)["step"] for x in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_clean_temporaries_removes_only_temporaries(tmp_path):
    names = [".step-000000005.json.x1.tmp", ".step-000000005.safetensors.y2.tmp",
             "step-000000004.json", "step-000000004.safetensors", "notes.tmp"]
    for n in names:
        (tmp_path / n).write_text("x")
    removed = clean_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])


def test_resume_auto_without_checkpoints_starts_a_new_run(data_and_parser, tmp_path):
    data, parser_dir, _ = data_and_parser
    t = _trainer(tiny_cfg(), data, parser_dir, tmp_path / "new")
    assert t.resume("auto") is False and t.step == 0


# -- 4. a FIFO as an image ------------------------------------------------------------------


@pytest.mark.parametrize("cmd", [
    ["parse", "{fifo}", "-o", "{out}/m.png"],
    ["edit", "bangs", "{fifo}", "--mode", "add", "--align", "whole", "-o", "{out}/e.png"],
])
def test_fifo_is_refused_at_once(tiny_home, tmp_path, cmd):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    args = [a.format(fifo=fifo, out=tmp_path) for a in cmd]
    proc = subprocess.run([sys.executable, "-m", "mgpe_cli", *args, "--model", "tiny"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "not a regular file" in proc.stderr and "FIFO" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_fifo_refused_by_the_readers(tmp_path):
    from mgpe_core.errors import ImageReadError
    from mgpe_core.io import image_size, read_image

    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    for reader in (read_image, image_size):
        with pytest.raises(ImageReadError, match="not a regular file"):
            reader(fifo)


def test_fifo_photo_and_part_mask_in_prepare_are_skipped(tmp_path):
    root = tmp_path / "celeba"
    make_layout(root, range(0, 3))
    (root / "CelebA-HQ-img" / "1.jpg").unlink()
    os.mkfifo(root / "CelebA-HQ-img" / "1.jpg")
    part = next((root / "CelebAMask-HQ-mask-anno" / "0").glob("00002_*.png"))
    part.unlink()
    os.mkfifo(part)
    summary = prepare_mod.prepare_dataset(root, tmp_path / "p", size=32)
    assert set(summary["skipped"]) == {1, 2} and summary["prepared"] == 1
    assert all("not a regular file" in v for v in summary["skipped"].values())


# -- 5. Ctrl-C ------------------------------------------------------------------------------


@pytest.mark.parametrize("raised", ["keyboard", "abort_from_keyboard"])
def test_ctrl_c_is_130_interrupted(monkeypatch, capsys, raised):
    from mgpe_cli import main as main_mod

    def boom(*_a, **_k):
        if raised == "keyboard":
            raise KeyboardInterrupt
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.exceptions.Abort() from None  # as click's prompt does

    monkeypatch.setattr(main_mod.cli, "main", boom)
    code, _, err = _run(capsys, "models", "list")
    assert code == 130 and err.strip() == "Interrupted."


def test_ctrl_c_inside_a_command(tmp_path, capsys, monkeypatch):
    import mgpe_core.data.prepare as p

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(p, "prepare_dataset", interrupted)
    root = tmp_path / "celeba"
    make_layout(root, [0])
    code, _, err = _run(capsys, "data", "prepare", str(root), str(tmp_path / "p"))
    assert code == 130 and "Interrupted." in err and "Aborted" not in err


def test_declined_confirmation_stays_aborted(monkeypatch, capsys):
    from mgpe_cli import main as main_mod

    def declined(*_a, **_k):
        raise click.exceptions.Abort()

    monkeypatch.setattr(main_mod.cli, "main", declined)
    code, _, err = _run(capsys, "models", "list")
    assert code == 1 and err.strip() == "Aborted."


# -- 6. weights that do not fit -------------------------------------------------------------


def test_misfit_weights_give_a_short_message():
    model = torch.nn.Sequential(*[torch.nn.Linear(8, 8) for _ in range(200)])
    other = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(200)])
    state = {**other.state_dict(), "extra.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError) as e:
        load_module_state(model, state, "checkpoint: generator")
    msg = str(e.value)
    assert len(msg) < 600, len(msg)
    assert "401 mismatch(es) (400 of another shape, 0 missing, 1 unexpected)" in msg
    assert "and 398 more" in msg and "0.weight is (4, 4) in the file, (8, 8) in the model" in msg


# -- 7. a missing file in a prepared set ----------------------------------------------------


def test_missing_files_are_found_before_the_first_step(tmp_path):
    from mgpe_core.data.dataset import PortraitDataset

    data = tmp_path / "data"
    make_prepared_folder(data, count=10, size=32, schema_name="mgpe-11", seed=0)
    ds = PortraitDataset(data)
    ds.check_files()
    for face in ds.ids[:5]:
        ds.folder.image_path(face).unlink()
    with pytest.raises(DatasetError, match=r"5 file\(s\) of the 'train' split are missing") as e:
        ds.check_files()
    assert str(ds.folder.image_path(ds.ids[0])) in str(e.value) and "and 2 more" in str(e.value)


def test_train_refuses_a_set_with_missing_files(data_and_parser, tmp_path, capsys):
    import shutil

    data, parser_dir, _ = data_and_parser
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    victim = sorted((copy / "labels").iterdir())[0]
    victim.unlink()
    code, _, err = _run(capsys, "train", "--data", str(copy), "--parser", str(parser_dir),
                        "--out", str(tmp_path / "run"), "--device", "cpu", "--steps", "1",
                        "--config", str(_tiny_config(tmp_path)))
    assert code == 1 and str(victim) in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def _tiny_config(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(tiny_cfg().to_dict()))
    return path
