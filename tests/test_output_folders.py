"""The output policy for commands that write a folder (mgpe_core.outputs, docs/errors.md
"Outputs never replace your files"): ``data synth``, ``data prepare``, ``align``, ``train``,
``train-parser``, ``eval --out``, ``demo``, and ``fid --save-stats`` (a file). A folder holding
the command's record file is its own earlier output (resumed, extended, refreshed); any other
folder with files is refused unless ``--overwrite``; an output folder is never a folder the
command reads, nor one around it. Every refusal: exit 1, one Error line naming the folder, no
network loaded, nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import file_contents

from mgpe_cli.main import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "Internal error" not in cap.err, cap.err
    return code, cap.out, cap.err




@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 3-face synth source, its prepared folder, and a folder of photos."""
    root = tmp_path_factory.mktemp("folders")
    assert main(["data", "synth", str(root / "src"), "--count", "3", "--size", "64", "-j", "1",
                 "--no-preview"]) == 0
    assert main(["data", "prepare", str(root / "src"), str(root / "prep"), "--size", "64",
                 "-j", "1"]) == 0
    photos = root / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes((root / "src" / "CelebA-HQ-img" / "0.jpg").read_bytes())
    return root


def alien(tmp_path):
    """A folder of the user's that no mgpe command made."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    return folder


COMMANDS = {
    "data synth": ["data", "synth", "{out}", "--count", "1", "--size", "64", "-j", "1",
                   "--no-preview"],
    "data prepare": ["data", "prepare", "{data}/src", "{out}", "--size", "64", "-j", "1"],
    "align": ["align", "{data}/photos", "{out}"],
    "train-parser": ["train-parser", "--data", "{data}/prep", "--out", "{out}", "--steps", "1"],
    "train": ["train", "--data", "{data}/prep", "--parser", "tiny", "--out", "{out}",
              "--steps", "1", "--batch", "1", "--device", "cpu"],
    "eval": ["eval", "--model", "tiny", "--n", "2", "--data", "{data}/prep", "--out", "{out}"],
    "demo": ["demo", "--model", "tiny", "--out", "{out}"],
}


def argv(name, data, out, *extra):
    return [a.format(data=data, out=out) for a in COMMANDS[name]] + list(extra)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_folder_of_other_files_is_refused(name, data, tiny_home, tmp_path, capsys,
                                            no_model_load):
    out = alien(tmp_path)
    before, data_before = file_contents(tmp_path), file_contents(data)
    code, _, err = run(capsys, *argv(name, data, out))
    assert code == 1, err
    assert err.startswith("Error: ") and err.strip().count("\n") == 0, err
    assert f"{out} is a folder with other files in it, not an earlier `mgpe {name}` output" \
        in err, err
    assert "--overwrite" in err
    assert file_contents(tmp_path) == before and file_contents(data) == data_before


@pytest.mark.parametrize("name", ["data prepare", "align", "train-parser", "eval"])
def test_an_output_folder_around_what_the_command_reads_is_refused(name, data, tiny_home,
                                                                   capsys, no_model_load):
    """OUT = the data's own parent folder: even --overwrite never writes around an input."""
    before = file_contents(data)
    code, _, err = run(capsys, *argv(name, data, data, "--overwrite"))
    assert code == 1, err
    assert f"{data} contains " in err and "which this command reads" in err, err
    assert file_contents(data) == before


def test_the_input_folder_itself_is_refused(data, capsys):
    code, _, err = run(capsys, "data", "prepare", data / "src", data / "src", "--overwrite")
    assert code == 1
    assert f"OUT {data / 'src'} is {data / 'src'}, which this command reads" in err


def test_overwrite_writes_into_the_folder_and_keeps_other_files(tmp_path, capsys):
    out = alien(tmp_path)
    code, _, err = run(capsys, "data", "synth", out, "--count", "1", "--size", "64", "-j", "1",
                       "--no-preview", "--overwrite")
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "synth.json").is_file() and (out / "CelebA-HQ-img" / "0.jpg").is_file()


def test_the_commands_own_folder_is_extended_without_overwrite(data, tmp_path, capsys):
    out = tmp_path / "faces"
    for start in (0, 1):  # the second run extends the first's folder (its synth.json)
        code, _, err = run(capsys, "data", "synth", out, "--count", "1", "--size", "64", "-j",
                           "1", "--no-preview", "--start", start)
        assert code == 0, err
    assert sorted(p.name for p in (out / "CelebA-HQ-img").iterdir()) == ["0.jpg", "1.jpg"]
    # a prepared folder is resumed: a second prepare into it reuses every face
    code, _, err = run(capsys, "data", "prepare", data / "src", tmp_path / "prep", "--size", "64",
                       "-j", "1")
    assert code == 0, err
    code, out_text, err = run(capsys, "data", "prepare", data / "src", tmp_path / "prep",
                              "--size", "64", "-j", "1", "--json")
    assert code == 0, err
    assert '"reused": 3' in out_text


def test_hidden_files_alone_do_not_make_a_folder_foreign(tmp_path, capsys):
    out = tmp_path / "faces"
    out.mkdir()
    (out / ".DS_Store").write_bytes(b"\0")
    code, _, err = run(capsys, "data", "synth", out, "--count", "1", "--size", "64", "-j", "1",
                       "--no-preview")
    assert code == 0, err


def test_fid_save_stats_never_replaces_a_file(data, tmp_path, capsys):
    from mgpe_core.metrics import fid as fidlib
    from mgpe_core.metrics.inception import PREPROCESSING

    stats = tmp_path / "fake.npz"
    fidlib.save_stats(stats, fidlib.Stats(np.zeros(4), np.eye(4), 10, PREPROCESSING, "w"))
    # the FAKE statistics file itself: never, even with --overwrite
    code, _, err = run(capsys, "fid", data / "photos", stats, "--save-stats", stats,
                       "--overwrite")
    assert code == 1 and "would replace a file this command reads" in err, err
    existing = tmp_path / "real.npz"
    existing.write_bytes(b"mine")
    before = file_contents(tmp_path)
    code, _, err = run(capsys, "fid", data / "photos", stats, "--save-stats", existing)
    assert code == 1 and f"{existing} already exists: add --overwrite" in err, err
    assert file_contents(tmp_path) == before


def test_train_parser_removes_what_a_killed_write_left(data, tmp_path, capsys):
    run_dir = tmp_path / "parser"
    run_dir.mkdir()
    (run_dir / "parser.json").write_text("{}")  # an earlier run's record: its own folder
    stale = [run_dir / ".parser.safetensors.ab12cd.tmp", run_dir / ".parser.json.x9.tmp"]
    for p in stale:
        p.write_bytes(b"half")
    mine = run_dir / ".keep.tmp"  # not a temporary of the parser's files: left alone
    mine.write_bytes(b"x")
    code, _, err = run(capsys, "train-parser", "--data", data / "prep", "--out", run_dir,
                       "--steps", "1", "--batch", "2", "--base-channels", "4", "--depth", "1")
    assert code == 0, err
    assert "removed 2 temporary file(s) left by an interrupted write" in err
    assert not any(p.exists() for p in stale) and mine.exists()
    assert (run_dir / "parser.safetensors").is_file()
