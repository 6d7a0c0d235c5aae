"""Run directories: claimed before the compute, marked as the project's, written atomically.

Nothing is deleted or overwritten that this project did not write (see :func:`claim`)."""

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


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a shared file system needs the umask's bits
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


MARKER = ".collapse-jax.json"
MARKER_FORMAT = 1


class RunDir(os.PathLike):
    """A directory this project writes into, claimed before any work is done.

    The marker file ``.collapse-jax.json`` lists every top-level entry the project wrote there, so
    ``--overwrite`` replaces exactly those and nothing else. ``run / "name"`` registers ``name`` and
    returns its path: every writer goes through it, so the list is complete before the bytes land.
    Use :func:`claim` to get one.
    """

    def __init__(self, path: Path, kind: str, entries: list[str], replace: list[str], created: list[Path],
                 resumed: bool):
        self.path = path
        self.kind = kind
        self.resumed = resumed  # an existing run of the same kind, to be continued
        self._entries = entries
        self._replace = replace  # our entries from an earlier run, removed before the first new write
        self._created = created  # folders this claim made (removed again by discard())
        self._added: list[str] = []  # entries this claim wrote (removed again by discard())

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r}, kind={self.kind!r})"

    def __truediv__(self, name: str) -> Path:
        top = Path(name).parts[0]
        if self._replace:
            self._clear_previous()
        if top not in self._entries:
            target = self.path / top
            if target.exists() or target.is_symlink():
                raise InputError(f"refusing to overwrite {target}: it was not written by collapse-jax")
            self._entries.append(top)
            self._added.append(top)
            self._write_marker()
        return self.path / name

    @property
    def entries(self) -> list[str]:
        return list(self._entries)

    def _clear_previous(self) -> None:
        for name in self._replace:
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        self._entries = [e for e in self._entries if e not in self._replace]
        self._replace = []
        self._write_marker()

    def _write_marker(self) -> None:
        atomic_write_json(self.path / MARKER, {"format": MARKER_FORMAT, "kind": self.kind,
                                               "entries": sorted(self._entries), "versions": versions()})

    def discard(self) -> None:
        """Undo this claim after a failure: remove what it wrote, then the marker and the folders it
        made if nothing else of the project's remains. Earlier runs' files are kept."""
        for name in self._added:
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            elif target.exists() or target.is_symlink():
                target.unlink()
        self._entries = [e for e in self._entries if e not in self._added]
        self._added = []
        if self._entries or self.resumed:
            self._write_marker()
            return
        marker = self.path / MARKER
        if marker.exists():
            marker.unlink()
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                break


def read_marker(path: str | os.PathLike) -> dict[str, Any] | None:
    """The marker of a directory this project wrote, or None (absent or unreadable)."""
    try:
        marker = read_json(Path(path) / MARKER)
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("entries"), list):
        return None
    return marker


def _make_folders(path: Path, flag: str) -> list[Path]:
    """mkdir -p, returning the folders it made; clear errors for files and unwritable parents."""
    missing = []
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise InputError(f"{flag} {path}: {probe} is a broken symbolic link")
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{flag} {path}: {probe} is a file, not a folder")
    made = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except OSError as err:
            for done in reversed(made):
                done.rmdir()
            raise InputError(f"{flag} {path}: cannot create {folder} ({err.strerror})") from None
        made.append(folder)
    return made


def claim(path: str | os.PathLike, kind: str, *, overwrite: bool = False, resume: bool = False,
          flag: str = "--out", legacy: str | None = None) -> RunDir:
    """Claim a run directory before any work: fail now, not after the compute, if it cannot be used.

    - A new path is created (with its parents), an empty folder is taken over.
    - A folder this project wrote (it has the marker) is continued when ``resume`` and it holds a run
      of the same ``kind``, replaced when ``overwrite`` (only the entries the marker lists; other
      files stay), and refused otherwise.
    - Anything else (a file, a folder with files this project did not write) is refused, whatever
      ``overwrite`` says: nothing is deleted or overwritten that the project did not write.
    - ``legacy`` names the file by which a run of this kind written before the marker existed is
      recognised (e.g. a sweep's ``sweep.json``): such a folder is adopted with all its entries.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is a file, not a folder; choose a new or empty folder")
    created = _make_folders(path, flag)
    entries: list[str] = []
    replace: list[str] = []
    resumed = False
    contents = [p.name for p in path.iterdir() if p.name != MARKER]
    marker = read_marker(path)
    if marker is None and legacy is not None and (path / legacy).is_file():
        marker = {"kind": kind, "entries": contents}
    if contents or marker is not None:
        if marker is None:
            raise InputError(f"{flag} {path} is not empty and was not written by collapse-jax (it has no "
                             f"{MARKER}); refusing to write there, even with --overwrite: choose a new or "
                             "empty folder")
        ours = [e for e in marker["entries"] if isinstance(e, str) and e and "/" not in e and e not in (".", "..")]
        if resume and marker.get("kind") == kind:
            entries, resumed = ours, True
        elif overwrite:
            entries, replace = ours, ours
        else:
            what = f"a collapse-jax {marker.get('kind', 'run')} run"
            hint = "; run the same command to continue it" if resume and marker.get("kind") == kind else ""
            raise InputError(f"{flag} {path} already holds {what}; pass --overwrite to replace the files "
                             f"collapse-jax wrote there, or choose another folder{hint}")
    run = RunDir(path, kind, entries, replace, created, resumed)
    try:
        run._write_marker()
    except OSError as err:
        for folder in reversed(created):
            folder.rmdir()
        raise InputError(f"{flag} {path} is not writable ({err.strerror})") from None
    return run


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
