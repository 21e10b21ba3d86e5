"""The house's layering (pyproject.toml's import-linter contracts): kept today, and able to fail."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))"]


def lint(package_parent: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts over the diffusion_core found in `package_parent`."""
    return subprocess.run([*LINT, str(ROOT / "pyproject.toml")], cwd=package_parent, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(package_parent), "PATH": ""})


def test_the_package_keeps_every_layer_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, upward", [
    ("weights/pipeline.py", "from ..demo import plots"),         # the weights wing reaching for the demo
    ("samplers.py", "from .evaluation import metrics"),           # the maths reaching for a wing
    ("evaluation/metrics.py", "from ..demo.requests import shown"),  # evaluation above the demo
])
def test_an_upward_import_breaks_the_contracts(tmp_path, module, upward):
    shutil.copytree(ROOT / "diffusion_core", tmp_path / "diffusion_core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "diffusion_core" / module
    target.write_text(target.read_text() + f"\n{upward}\n")
    result = lint(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout + result.stderr


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_the_command_line_never_imports_the_demo_wing():
    """train_toy.py trains, evaluates and syncs weights: the demo wing (Gradio's side) is none of its business.
    (The benches measure the app, so they may.)"""
    found = sorted(m for m in imported_modules(ROOT / "train_toy.py") if m.startswith("diffusion_core.demo"))
    assert found == []
    assert "diffusion_core.weights.pipeline" in imported_modules(ROOT / "train_toy.py")  # the scan sees imports
