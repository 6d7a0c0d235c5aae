"""The examples in the README and in each package's docstring run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["discrete", "gaussian", "regression", "kde", "poisson", "gmm", "sweep"]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write runs/...
    module = importlib.import_module(f"collapse_jax.{name}")
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                                      verbose=False, report=True)
    assert tried > 0, f"collapse_jax.{name} lost its example"
    assert failures == 0


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "the README's quickstart is gone"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "quickstart" / "summary.csv").exists()
