"""The sweep directory: a manifest with the resolved config, and one atomic file per chunk.

Running a sweep again resumes it: finished chunks are verified (they must belong to this config's
plan) and skipped. A different config under the same directory is refused, naming the keys that
differ. A damaged chunk is never overwritten silently: the error names it and says what to do.
"""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core import rundir
from ..core.errors import InputError

MANIFEST = "sweep.json"


def fingerprint(cfg: Mapping[str, Any]) -> str:
    return hashlib.sha256(rundir.to_json(cfg).encode()).hexdigest()[:16]


def chunk_path(out: "rundir.RunDir | Path", cid: int) -> Path:
    return out / "chunks" / f"chunk-{cid:06d}.npz"


def open_sweep_dir(out: "str | os.PathLike", cfg: Mapping[str, Any], n_chunks: int) -> rundir.RunDir:
    """Claim the sweep directory: a new one gets the manifest, an existing one must hold this sweep."""
    run = rundir.claim(out, "sweep", resume=True, flag="sweep directory", legacy=MANIFEST)
    manifest = run.path / MANIFEST
    if run.resumed and manifest.exists():
        old = read_manifest(run.path)
        diffs = rundir.config_diff(old["config"], cfg)
        if diffs:
            shown = "; ".join(d if len(d) <= 120 else d[:117] + "..." for d in diffs[:8])
            more = f" (and {len(diffs) - 8} more)" if len(diffs) > 8 else ""
            raise InputError(f"sweep directory {out} holds a different sweep; refusing to resume. Differing keys: "
                             f"{shown}{more}. Use another --out, or restore the config.")
        return run
    rundir.atomic_write_json(run / MANIFEST, {"config": cfg, "fingerprint": fingerprint(cfg), "chunks": n_chunks,
                                              "versions": rundir.versions(),
                                              "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return run


def read_manifest(out: "str | os.PathLike") -> dict[str, Any]:
    path = Path(out) / MANIFEST
    if not path.exists():
        raise InputError(f"{out} is not a sweep directory (no {MANIFEST})")
    try:
        manifest = rundir.read_json(path)
    except (OSError, ValueError) as err:
        raise InputError(f"sweep directory {out}: {MANIFEST} is unreadable ({err}); restore it or start the sweep "
                         "in a new directory") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise InputError(f"sweep directory {out}: {MANIFEST} has no 'config'; not a sweep directory")
    return manifest


def write_chunk(out: rundir.RunDir, chunk: Mapping[str, Any], cfg_fingerprint: str,
                data: Mapping[str, np.ndarray]) -> None:
    rundir.atomic_write_npz(chunk_path(out, chunk["id"]), {**data, "fingerprint": np.asarray(cfg_fingerprint),
                                                            "chunk_id": np.asarray(chunk["id"])})


def read_chunk(path: Path, chunk: Mapping[str, Any], cfg_fingerprint: str) -> dict[str, np.ndarray]:
    """Load a finished chunk and check it is the chunk the plan expects (never rewritten)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error, KeyError) as err:
        raise InputError(f"sweep chunk {path} is unreadable ({type(err).__name__}); it is kept as it is: move it "
                         "away and run the sweep again to recompute it") from None
    want_points = np.concatenate([np.full(n, p) for p, _, n in chunk["pieces"]])
    ok = (str(data.get("fingerprint", "")) == cfg_fingerprint and int(data.get("chunk_id", -1)) == chunk["id"]
          and np.array_equal(data.get("point"), want_points))
    if not ok:
        raise InputError(f"sweep chunk {path} does not belong to this sweep's plan (fingerprint or lanes differ); "
                         "refusing to use or overwrite it: move it away to recompute it")
    return data


__all__ = ["open_sweep_dir", "read_manifest", "write_chunk", "read_chunk", "chunk_path", "fingerprint", "MANIFEST"]
