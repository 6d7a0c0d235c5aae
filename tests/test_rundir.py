"""Run directories: nothing the project did not write is ever deleted or overwritten, a bad --out is
found before any compute, and a failed run leaves nothing behind."""

import os
import stat
import sys

import numpy as np
import pytest

from collapse_jax import InputError, cli, discrete
import collapse_jax.discrete.cli  # noqa: F401  (patched below)
from collapse_jax.core import rundir

FAST = ["--states", "4", "--samples", "10", "--generations", "2", "--chains", "2", "--no-progress"]


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_overwrite_never_touches_a_folder_the_project_did_not_write(tmp_path, capsys):
    # The reported case: a user's thesis folder given as --out with --overwrite.
    (tmp_path / "t" / "ch").mkdir(parents=True)
    (tmp_path / "t" / "thesis.tex").write_text("x")
    before = _tree(tmp_path / "t")
    assert cli.main(["discrete", *FAST, "--out", str(tmp_path / "t"), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "not written by collapse-jax" in err and err.count("\n") == 1 and "Traceback" not in err
    assert _tree(tmp_path / "t") == before and (tmp_path / "t" / "thesis.tex").read_text() == "x"


def test_out_dot_in_a_non_empty_working_directory_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["discrete", *FAST, "--out", ".", "--overwrite"]) == 2
    assert "not written by collapse-jax" in capsys.readouterr().err
    assert _tree(tmp_path) == ["notes.txt"]


def test_overwrite_replaces_only_the_projects_own_files(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["discrete", *FAST, "--out", str(out)]) == 0
    ours = set(rundir.read_marker(out)["entries"])
    assert {"config.json", "metrics.npz", "summary.csv", "gini_simpson.png"} <= ours
    (out / "my-notes.txt").write_text("keep me")
    (out / "metrics.npz").write_bytes(b"stale")  # one of ours, to be replaced
    assert cli.main(["discrete", *FAST, "--out", str(out), "--overwrite", "--seed", "1"]) == 0
    assert (out / "my-notes.txt").read_text() == "keep me"
    assert "my-notes.txt" not in rundir.read_marker(out)["entries"]
    assert np.load(out / "metrics.npz")["gini_simpson"].shape == (3, 2)


def test_a_bad_out_is_found_before_any_compute(tmp_path, monkeypatch, capsys):
    def no_compute(*args, **kwargs):
        """Stands in for discrete.simulate."""
        raise AssertionError("simulate ran although --out was unusable")

    monkeypatch.setattr(discrete.cli, "simulate", no_compute)
    (tmp_path / "afile").write_text("x")
    bad = [str(tmp_path / "afile" / "sub"), str(tmp_path / "afile")]
    if sys.platform.startswith("linux"):
        bad.append("/proc/collapse-jax-cannot-write-here/run")  # mkdir fails even for root
    for out in bad:
        assert cli.main(["discrete", "--generations", "2000", "--chains", "20000", "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("collapse-jax discrete: error:") and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "x"


def test_a_failed_run_leaves_no_folder_behind(tmp_path, monkeypatch):
    def bad_input(*args, **kwargs):
        """Stands in for discrete.simulate."""
        raise InputError("found late")

    monkeypatch.setattr(discrete.cli, "simulate", bad_input)
    out = tmp_path / "new" / "deeper"
    assert cli.main(["discrete", *FAST, "--out", str(out)]) == 2
    assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["discrete", *FAST, "--out", str(empty)]) == 2
    assert empty.is_dir() and not any(empty.iterdir())


def test_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        rundir._UMASK = 0o022
        rundir.atomic_write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o644
        rundir._UMASK = 0o077
        rundir.atomic_write_text(tmp_path / "b.txt", "x")
        assert stat.S_IMODE(os.stat(tmp_path / "b.txt").st_mode) == 0o600
    finally:
        os.umask(old)
        rundir._UMASK = old


def test_a_folder_written_before_markers_is_adopted_only_by_its_own_kind(tmp_path):
    legacy = tmp_path / "sweep"
    legacy.mkdir()
    (legacy / "sweep.json").write_text("{}")
    run = rundir.claim(legacy, "sweep", resume=True, legacy="sweep.json")
    assert run.resumed and run.entries == ["sweep.json"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    with pytest.raises(InputError, match="not written by collapse-jax"):
        rundir.claim(other, "sweep", resume=True, overwrite=True, legacy="sweep.json")


def test_a_foreign_file_inside_a_run_directory_is_never_overwritten(tmp_path):
    run = rundir.claim(tmp_path / "run", "discrete")
    rundir.atomic_write_text(run / "summary.csv", "ours")
    (tmp_path / "run" / "plot.png").write_text("the user's")
    again = rundir.claim(tmp_path / "run", "discrete", overwrite=True)
    with pytest.raises(InputError, match="refusing to overwrite .*plot.png"):
        again / "plot.png"
    assert (tmp_path / "run" / "plot.png").read_text() == "the user's"
