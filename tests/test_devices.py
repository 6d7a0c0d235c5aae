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
