"""The distribution lists every package folder (the CLI folder is installed as mgpe_cli)."""

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapped = {v: k for k, v in cfg["package-dir"].items()}
    found = set()
    for top in ("mgpe_core", "mgpe_plugins", "cli"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).as_posix()
            head, _, rest = rel.partition("/")
            name = mapped.get(head, head) + ("." + rest.replace("/", ".") if rest else "")
            found.add(name)
    assert found == listed, f"not listed: {found - listed}; listed but missing: {listed - found}"


def test_readme_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert block[0].startswith("./dev demo") and block[1].startswith("./dev test")
    assert "torch==2.13.0" in (ROOT / "dev").read_text()
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()
