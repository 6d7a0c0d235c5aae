"""The accelerator suite (benchmarks/device.py) at --tiny size on the CPU, so it never rots: every
workload runs, and the JSON and markdown it writes have the structure a GPU run will have."""

import json
from pathlib import Path

import pytest

device = pytest.importorskip("benchmarks.device")

WORKLOAD_UNITS = {"discrete": "chain-gen/s", "gaussian": "chain-gen/s", "gmm": "chain-gen/s", "sweep": "chain-gen/s"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("device") / "out"
    assert device.main(["--tiny", "--out", str(out), "--budget", "3000"]) == 0
    return out


def test_tiny_suite_runs_every_workload_and_writes_json_and_markdown(tiny):
    report = json.loads((tiny / "latest.json").read_text())
    stamped = sorted(tiny.glob("*-cpu-tiny.json"))
    assert len(stamped) == 1 and json.loads(stamped[0].read_text()) == report
    assert report["size"] == "tiny" and report["environment"]["backend"] == "cpu"
    errors = [r for r in report["records"] if "error" in r or "skipped" in r]
    assert not errors, errors
    ceilings = report["ceilings"]
    assert ceilings["rng"]["uniforms_per_s"] > 0 and ceilings["matmul"]["f32_flops"] > 0
    assert ceilings["matmul"]["bf16_flops"] > 0
    by = {}
    for r in report["records"]:
        by.setdefault(r["workload"], []).append(r)
        assert r["throughput"] > 0 and r["unit"] and r["size"] and r["peers"], r
        for p in r["peers"]:
            assert p["where"] and (p["throughput"] is None or p["ratio"] == pytest.approx(r["throughput"] / p["throughput"]))
    assert set(by) == {"discrete", "gaussian", "gmm", "opt", "sweep"}
    for name, unit in WORKLOAD_UNITS.items():
        assert all(r["unit"] == unit for r in by[name])
    assert len(by["gmm"]) == len(device.TINY["gmm"]["runs"]) and len(by["discrete"]) == len(device.TINY["discrete"]["runs"])
    for r in by["discrete"] + by["gaussian"] + by["sweep"]:
        assert 0 < r["ceiling"]["fraction"] and r["ceiling"]["unit"] == "chain-gen/s"
    gen, train = sorted(by["opt"], key=lambda r: r["unit"])
    assert gen["unit"] == "new tokens/s" and train["unit"] == "tokens/s"
    assert 0 < train["mfu_measured_f32"] and train["model_flops_per_s"] > 0 and isinstance(gen["same_tokens"], bool)
    assert "transformers" in train["peers"][0]["name"]
    md = (tiny / "latest.md").read_text()
    assert md.startswith("# collapse-jax device suite (tiny)") and "| workload |" in md
    for name in by:
        assert f"| {name} |" in md


def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys):
    assert device.main(["--tiny", "--only", "discrete,warp", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown workload warp" in err and len(err.splitlines()) == 1
    assert device.main(["--tiny", "--budget", "0", "--out", str(tmp_path / "b")]) == 2
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "mine.txt").write_text("x")
    assert device.main(["--tiny", "--out", str(tmp_path / "c")]) == 2
    assert "not written by collapse-jax" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_readme_names_the_one_command(tmp_path):
    readme = (Path(device.__file__).parent / "README.md").read_text()
    assert "PYTHONPATH=. python -m benchmarks.device" in readme
