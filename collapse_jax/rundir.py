"""Run directories: atomic writes, resolved configs with versions, no silent overwrites."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import InputError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, to_json(obj))


def atomic_write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else (f"{v:.10g}" if isinstance(v, float) else v) for v in row])
    atomic_write_text(path, buf.getvalue())


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers (random streams are tied to jax's)."""
    out = {"python": platform.python_version()}
    for pkg in ("collapse-jax", "jax", "jaxlib", "flax", "optax", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    try:
        import jax

        out["backend"] = jax.default_backend()
        out["devices"] = str(len(jax.devices()))
    except Exception:  # pragma: no cover - jax import failures surface elsewhere
        pass
    return out


def prepare_run_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Create an empty run directory; refuse to touch a non-empty one unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"run directory {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise InputError(
                f"run directory {path} already exists and is not empty; "
                "choose another --out or pass --overwrite"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Keys whose values differ between two (nested) configs, dotted, for 'refusing to resume' messages."""
    keys = sorted(set(old) | set(new))
    diffs: list[str] = []
    for k in keys:
        a, b = old.get(k, "<missing>"), new.get(k, "<missing>")
        name = f"{prefix}{k}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs.extend(config_diff(a, b, prefix=f"{name}."))
        elif json.loads(to_json(a)) != json.loads(to_json(b)):
            diffs.append(f"{name}: {a!r} -> {b!r}")
    return diffs
