"""VAE family: a small recursive run through the CLI (loop, ELBO, samples, files), the IDX reader,
and bad input."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from collapse_jax import InputError, Process, cli, vae
from collapse_jax.core import simulation


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    rc = cli.main(["vae", "--dataset", "digits", "--limit", "256", "--latent-dims", "4", "--epochs", "6",
                   "--batch-size", "64", "--generations", "2", "--seed", "1", "--out", str(out), "--no-progress"])
    assert rc == 0
    return out


def test_loop_runs_and_writes_a_run(run_dir):
    for name in ("config.json", "metrics.npz", "summary.csv", "trajectory.npz", "vae_grid.png", "vae_metrics.png",
                 "samples_gen000.png", "samples_gen002.png"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["images"] == 256 and config["height"] == 8 and config["latent_dims"] == 4
    assert config["sizes"] == [256, 256] and config["first_chain"] == 0
    np.testing.assert_array_equal(np.load(run_dir / "trajectory.npz")["generation"], [0, 1, 2])
    metrics = np.load(run_dir / "metrics.npz")
    for name in ("latent_std", "latent_mean_abs", "pixel_std", "recon_bce", "train_loss"):
        assert metrics[name].shape == (3, 1), name
        assert np.all(np.isfinite(metrics[name])) and np.all(metrics[name] > 0), name


def test_elbo_decreases_during_training(run_dir):
    curve = np.load(run_dir / "trajectory.npz")["loss_curve"]  # (generation, chain, epoch)
    assert curve.shape == (3, 1, 6)
    for t in range(3):  # every generation's training lowers its negative ELBO
        assert curve[t, 0, -1] < curve[t, 0, 0], curve[t, 0]
    # and on real data it beats the trivial model (every pixel 0.5, KL 0): 64 * log 2 = 44.36 nats
    assert curve[0, 0, -1] < 64 * np.log(2.0)


def test_generated_images_have_the_datas_shape_and_range(run_dir):
    samples = np.load(run_dir / "trajectory.npz")["samples"]
    assert samples.shape == (3, 1, 64, 8, 8)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    assert samples.std() > 0  # not a constant image


def test_digits_are_bundled_real_handwriting():
    images = vae.load_digits_images()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0


def _write_idx(path, images, magic=0x00000803, truncate=0):
    n, h, w = images.shape
    raw = b"".join(x.to_bytes(4, "big") for x in (magic, n, h, w)) + images.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - truncate]
    if path.suffix == ".gz":
        raw = gzip.compress(raw)
    path.write_bytes(raw)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_reads_mnist_idx_files(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28))
    _write_idx(tmp_path / name, images)
    loaded, label = vae.load_images(tmp_path)
    assert loaded.shape == (5, 28, 28) and label == str(tmp_path)
    np.testing.assert_allclose(loaded, images / 255.0, atol=1e-7)


@pytest.mark.parametrize("setup, match", [
    ("missing", "does not exist"),
    ("file", "not a directory"),
    ("empty", "no MNIST training images"),
    ("magic", "magic number"),
    ("truncated", "malformed"),
    ("short", "shorter than its header"),
])
def test_bad_image_directories(tmp_path, setup, match, capsys):
    folder = tmp_path / "mnist"
    images = np.zeros((3, 8, 8))
    if setup == "file":
        folder.write_text("not a folder")
    elif setup != "missing":
        folder.mkdir()
    target = folder / "train-images-idx3-ubyte"
    if setup == "magic":
        _write_idx(target, images, magic=0x00000801)
    elif setup == "truncated":
        _write_idx(target, images, truncate=5)
    elif setup == "short":
        target.write_bytes(b"\x00\x00\x08")
    with pytest.raises(InputError, match=match):
        vae.load_images(folder)
    out = tmp_path / "run"
    assert cli.main(["vae", "--dataset", str(folder), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("kwargs, match", [
    (dict(latent_dims=0), "latent_dims"),
    (dict(epochs=0), "epochs"),
    (dict(lr=0.0), "lr"),
    (dict(batch_size=0), "batch_size"),
    (dict(dataset=np.zeros((10, 6, 6), np.float32)), "multiples of 4"),
    (dict(dataset=np.full((10, 8, 8), 2.0, np.float32)), r"\[0, 1\]"),
    (dict(workflow="accumulate"), "replace workflow"),
    (dict(beta=0.5), "beta > 0 is not supported"),
    (dict(gamma="linear:0.5,2", generations=3), "mixing weight"),
    (dict(generations=-1), "generations"),
    (dict(chains=0), "chains"),
    (dict(seed=-1), "seed"),
    (dict(process=Process.resolve(samples=10, generations=1), samples=10), "not both"),
])
def test_bad_input_is_one_clear_error(kwargs, match):
    base = {"generations": 1, "epochs": 1, "progress": False}
    if "process" in kwargs:
        base.pop("generations")
    with pytest.raises(InputError, match=match):
        vae.simulate(**{**base, **kwargs})


TINY = dict(limit=64, latent_dims=2, epochs=2, batch_size=32, channels=(4, 8), progress=False)


def test_chains_are_addressable_and_gamma_is_a_schedule(monkeypatch):
    """Chain c's numbers depend on (seed, c) alone (first_chain slices equal a larger run's columns),
    and gamma_t reaches every generation's training as that generation's value."""
    seen = []
    train = vae.Trainer.train

    def spy(self, *args, **kwargs):
        seen.append((kwargs["from_real"], kwargs.get("gamma", 0.0)))
        return train(self, *args, **kwargs)

    monkeypatch.setattr(vae.Trainer, "train", spy)
    both = vae.simulate("digits", generations=2, chains=2, seed=4, gamma="list:0.5,0.25", **TINY)
    assert seen == [(True, 0.0), (True, 0.0), (False, 0.5), (False, 0.5), (False, 0.25), (False, 0.25)]
    second = vae.simulate("digits", generations=2, chains=1, first_chain=1, seed=4, gamma="list:0.5,0.25", **TINY)
    for name, values in both.metrics.items():
        np.testing.assert_array_equal(values[:, 1:], second.metrics[name], err_msg=name)
    np.testing.assert_array_equal(both.trajectory["samples"][:, 1:], second.trajectory["samples"])
    assert not np.array_equal(both.metrics["train_loss"][:, 0], both.metrics["train_loss"][:, 1])
    assert both.config["process"]["gamma"] == [0.5, 0.25]


def test_ctrl_c_keeps_the_completed_generations(monkeypatch):
    calls = {"n": 0}
    evaluate = vae.Trainer.evaluate

    def interrupt_the_fourth(self, *args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return evaluate(self, *args)

    monkeypatch.setattr(vae.Trainer, "evaluate", interrupt_the_fourth)
    with pytest.raises(simulation.Interrupted) as stop:
        vae.simulate("digits", generations=3, chains=2, **TINY)
    partial = stop.value.result
    assert partial.config["generations_done"] == 0 and partial.metrics["latent_std"].shape == (1, 2)
    assert partial.trajectory["samples"].shape[:2] == (1, 2)


def test_cli_refuses_an_occupied_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("earlier work")
    assert cli.main(["vae", "--epochs", "1", "--generations", "0", "--out", str(out), "--no-progress"]) == 2
    assert (out / "keep.txt").read_text() == "earlier work"
    assert "not empty" in capsys.readouterr().err
