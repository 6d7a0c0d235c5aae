"""Chains sharded over 4 forced host devices follow exactly the paths of a 1-device run, for every
family on the engine (its shard_map splits the chains; each device runs its own loops)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# family -> (positional D_0, keywords): small runs with chain counts that do not divide by 4, so the
# engine's lane padding is exercised too, and trajectories of a few chains.
RUNS = {
    "discrete": (["zipf:1.1"], dict(states=7, samples=40, generations=6, chains=10, record_every=3,
                                    record_chains=5)),
    "gaussian": ([[0.0, 1.0], [[1.0, 0.3], [0.3, 0.5]]], dict(samples=6, generations=5, chains=9)),
    "poisson": ([2.0], dict(samples=5, generations=6, chains=11)),
    "kde": ([0.0, 1.0], dict(samples=8, generations=4, chains=6, bandwidth=0.3)),
    "regression": ([], dict(dim=3, samples=8, generations=4, chains=7)),
}

SCRIPT = """
import json, sys, numpy as np, jax, importlib
name, args, kwargs, path = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
assert len(jax.devices()) == int(sys.argv[5])
r = importlib.import_module("collapse_jax." + name).simulate(*args, progress=False, seed=3, **kwargs)
arrays = {f"metrics/{k}": v for k, v in r.metrics.items()}
arrays.update({f"final/{k}": v for k, v in r.final.items()})
arrays.update({f"events/{k}": v for k, v in r.events.items()})
arrays.update({f"trajectory/{k}": v for k, v in r.trajectory.items()})
np.savez(path, **arrays)
"""


def _run(name: str, devices: int, path: Path) -> dict[str, np.ndarray]:
    args, kwargs = RUNS[name]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, name, json.dumps(args), json.dumps(kwargs), str(path),
                           str(devices)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_four_devices_give_the_same_chains(name, tmp_path):
    one = _run(name, 1, tmp_path / "one.npz")
    four = _run(name, 4, tmp_path / "four.npz")
    assert sorted(one) == sorted(four)
    for key in one:
        if key.startswith("metrics/"):  # float reductions may round differently by batch shape
            np.testing.assert_allclose(four[key], one[key], rtol=2e-6, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(four[key], one[key], err_msg=key)


CLI = [sys.executable, "-m", "collapse_jax.cli"]
DISCRETE = ["discrete", "--states", "6", "--samples", "20", "--generations", "3", "--chains", "5", "--no-progress"]


def _devices_recorded(out: Path) -> str:
    return json.loads((out / "config.json").read_text())["versions"]["devices"]


def test_the_command_line_uses_one_cpu_device_per_core_unless_told(tmp_path):
    """``collapse-jax`` splits the CPU into one JAX device per usable core by default
    (``--cpu-devices``, before or after the command, or ``COLLAPSE_JAX_CPU_DEVICES`` choose), and the
    chains come out the same."""
    from collapse_jax.core.devices import cpu_cores

    env = {k: v for k, v in os.environ.items() if k not in ("COLLAPSE_JAX_CPU_DEVICES", "XLA_FLAGS")}
    env["JAX_PLATFORMS"] = "cpu"
    runs = {"auto": [], "three": ["--cpu-devices", "3"], "env": []}
    for name, flags in runs.items():
        run_env = {**env, "COLLAPSE_JAX_CPU_DEVICES": "2"} if name == "env" else env
        proc = subprocess.run(CLI + flags + DISCRETE + ["--out", str(tmp_path / name)], env=run_env, cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert _devices_recorded(tmp_path / "auto") == str(cpu_cores())
    assert _devices_recorded(tmp_path / "three") == "3"
    assert _devices_recorded(tmp_path / "env") == "2"
    finals = [np.load(tmp_path / name / "final.npz") for name in runs]
    for other in finals[1:]:
        for key in finals[0].files:
            np.testing.assert_array_equal(other[key], finals[0][key], err_msg=key)

    # (also accepted after the command's name)
    bad = subprocess.run(CLI + DISCRETE + ["--cpu-devices", "0", "--out", str(tmp_path / "bad")], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "cpu devices must be 'auto' or a positive integer" in bad.stderr
    assert bad.stderr.count("\n") == 1 and not (tmp_path / "bad").exists()


def test_use_cpu_cores_leaves_a_started_jax_alone():
    import jax

    import collapse_jax

    jax.numpy.zeros(1).block_until_ready()  # JAX has started: the count is fixed
    assert collapse_jax.use_cpu_cores(7) == len(jax.devices("cpu"))
    with pytest.raises(collapse_jax.InputError, match="positive integer"):
        collapse_jax.use_cpu_cores("many")
