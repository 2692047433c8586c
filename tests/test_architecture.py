"""The rules of docs/architecture.md, checked: the core knows no operation by name, plugins never
reach into the CLI, editing needs nothing from training, and bad input is refused before any
network loads."""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in the file names (absolute names;
    relative imports resolved against the file's package)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            else:
                names.add(node.module)
    return names


def _operation_names() -> list[str]:
    from mgpe_core.plugins import load_plugins

    names = set()
    for op in load_plugins().operations.values():
        names.add(op.name)
        names.update(case.label for case in op.eval_cases())
    return sorted(names)


def test_the_core_names_no_operation():
    names = _operation_names()
    assert {"swap-mouth", "bangs", "style", "mask-to-face", "edit-mask"} <= set(names)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
    swap_fns = re.compile(r"\b(swap_(mouth|eyes|brows|nose)|add_bangs|remove_bangs|"
                          r"forehead_region|mgpe_plugins\.ops)\b")
    hits = []
    for path in _python_files("mgpe_core"):
        if path.parent.name == "synth":  # procedural faces have a hair style "bangs": data
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            # "style" is also an ordinary word ("styles", "the style of"): only the quoted
            # operation name counts for it
            found = [m.group(1) for m in pattern.finditer(line) if m.group(1) != "style"]
            if re.search(r"[\"'`]style[\"'`]", line):
                found.append("style")
            if found or swap_fns.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "operation names in mgpe_core:\n" + "\n".join(hits)


def test_plugins_never_import_the_cli():
    offenders = [str(p.relative_to(ROOT)) for p in _python_files("mgpe_plugins")
                 if any(name == "mgpe_cli" or name.startswith("mgpe_cli.")
                        for name in _imports(p))]
    assert not offenders


def test_the_core_imports_neither_plugins_nor_cli():
    offenders = [str(p.relative_to(ROOT)) for p in _python_files("mgpe_core")
                 if any(name.split(".")[0] in ("mgpe_plugins", "mgpe_cli")
                        for name in _imports(p))]
    assert not offenders


def test_an_edit_imports_nothing_from_training(tmp_path):
    """A whole `mgpe edit` (parsing a photo without a mask included) in a fresh process: the
    training package is never imported."""
    from mgpe_core.io import write_image
    from mgpe_core.samples import load_sample

    write_image(tmp_path / "photo.png", load_sample(1)[0])  # no mask beside it: parsed
    script = (
        "import sys, json\n"
        "from mgpe_cli.main import main\n"
        f"code = main(['edit', 'swap-mouth', {str(tmp_path / 'photo.png')!r}, '--reference',"
        f" 'sample:4', '-o', {str(tmp_path / 'out.png')!r}])\n"
        "print(json.dumps({'code': code, 'train': sorted(m for m in sys.modules"
        " if m.startswith('mgpe_core.train'))}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MGPE_HOME": str(tmp_path / "home")})
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "train": []}, proc.stderr
    assert (tmp_path / "out.png").is_file()
