"""SIGKILL at random moments never leaves training without a complete checkpoint to resume."""

import json
import random
import signal
import subprocess
import sys
import time

import pytest

from mgpe_core.checkpoint import find_latest, load_checkpoint
from mgpe_core.labels import get_schema
from mgpe_core.model.config import MgpeConfig, ParserConfig
from mgpe_core.testing import make_prepared_folder
from mgpe_core.train.parser_trainer import train_parser

TINY = dict(resolution=64, width=0.125, latent_dim=16, res_blocks=1,
            parser=dict(base_channels=4, depth=2), discriminator=dict(base_channels=8))

pytestmark = pytest.mark.slow  # ten training subprocesses, each killed mid-step


def test_sigkill_ten_times_then_resume(tmp_path):
    data = tmp_path / "data"
    make_prepared_folder(data, count=8, size=64, schema_name="mgpe-11", seed=2)
    train_parser(data, tmp_path / "parser", get_schema("mgpe-11"), steps=1, batch=2,
                 cfg=ParserConfig(base_channels=4, depth=2))
    cfg = MgpeConfig.from_dict({"model": TINY, "train": {
        "batch": 2, "checkpoint_every": 1, "keep_checkpoints": 2, "sample_every": 10**6,
        "ema_bn_batches": 1}})
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "mgpe_cli", "train", "--data", str(data), "--parser",
           str(tmp_path / "parser"), "--out", str(run), "--config", str(tmp_path / "cfg.json"),
           "--steps", "10000", "--device", "cpu", "--resume", "auto"]
    rng = random.Random(0)
    last_step = 0
    for kill in range(10):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.time() + 120
        # wait until this incarnation has made progress, then kill at a random moment
        while time.time() < deadline and proc.poll() is None:
            latest = find_latest(run / "checkpoints")
            step = json.loads(latest.read_text())["step"] if latest else 0
            if step > last_step:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        latest = find_latest(run / "checkpoints")
        assert latest is not None, f"no complete checkpoint after kill {kill}"
        tensors, meta = load_checkpoint(latest)  # verifies the SHA-256 too
        assert meta["step"] >= last_step and any(k.startswith("ema.") for k in tensors)
        last_step = meta["step"]
    final = subprocess.run([*cmd[:-4], "--steps", str(last_step + 1), "--device", "cpu",
                            "--resume", "auto", "--json"], capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["step"] == last_step + 1
