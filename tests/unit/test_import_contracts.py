"""The layering contracts ([tool.importlinter] in pyproject.toml, run by scripts/lint-imports):
they hold on this tree and truly fail on a copy with a forbidden import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = ROOT / "scripts" / "lint-imports"
CONTRACTS = {
    c["id"]: c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
}

pytestmark = pytest.mark.skipif(
    not (Path(sys.executable).parent / "lint-imports").exists(), reason="import-linter is not installed"
)


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LINT), "--root", str(root)], capture_output=True, text=True, timeout=120)


def copy_tree(tmp_path: Path) -> Path:
    dest = tmp_path / "tree"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for folder in {*packages.values()}:
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def add_import(path: Path, line: str) -> None:
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    path.write_text(head + sep + "\n" + line + "\n" + rest)


def test_every_core_module_is_a_source_of_the_core_contract():
    listed = set(CONTRACTS["core-imports-no-area"]["source_modules"])
    core = {f"procops.{p.stem}" for p in (ROOT / "procops").glob("*.py") if p.stem != "__init__"}
    assert core == listed, f"add to or remove from [tool.importlinter] core-imports-no-area: {core ^ listed}"


def test_the_contracts_hold_on_this_tree():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(
    "module,line,contract",
    [
        ("backup/run.py", "from procops.sandbox.platform import SandboxPaths  # noqa", "Areas import each other"),
        ("cli/backup_cmd.py", "from procops.backup import run as _run  # noqa", "The CLI imports areas only"),
        ("procops/journal.py", "from procops.sandbox import api as _sandbox  # noqa", "Core (procops/*.py)"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    tree = copy_tree(tmp_path)
    add_import(tree / module, line)
    r = lint(tree)
    assert r.returncode == 1, r.stdout + r.stderr
    _, _, broken = r.stdout.partition("Broken contracts")
    assert contract in broken, r.stdout
