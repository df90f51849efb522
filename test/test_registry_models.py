"""Locked registry model files (assets/registry_models.py): the lock, fetching from an archive the test writes,
refusals that install nothing, and the error of a file that is not installed."""

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from scorehmr_ros.assets import registry_models as rm


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _write_lock(path: Path, url: str, integrity: str, files: dict[str, bytes]) -> Path:
    lines = ["# a lock written by the test", f"archive pkg@1.0 {url} {integrity}"]
    lines += [f"file pkg@1.0 package/{name} models/{name} {hashlib.sha256(content).hexdigest()}  # comment"
              for name, content in files.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def published(tmp_path):
    """An archive on disk (a file:// URL, as urllib reads it) with two model files and a readme."""
    files = {"small.tflite": b"\x1c\x00\x00\x00TFL3 small model", "big.tflite": bytes(range(256)) * 100}
    data = _archive({f"package/{name}": content for name, content in files.items()} | {"package/README.md": b"hi"})
    archive = tmp_path / "pkg-1.0.tgz"
    archive.write_bytes(data)
    return files, archive.as_uri(), data


def test_the_projects_lock_parses_and_names_the_blazepose_sizes():
    lock = rm.read_lock()
    assert {Path(f.relative_path).name for f in lock.files} == {"pose_landmark_lite.tflite",
                                                                 "pose_landmark_heavy.tflite"}
    assert all(lock.archives[f.archive].url.startswith("https://registry.npmjs.org/") for f in lock.files)


def test_fetch_installs_the_locked_files_once(tmp_path, published):
    files, url, data = published
    lock = rm.read_lock(_write_lock(tmp_path / "models.lock", url, _integrity(data), files))
    root = tmp_path / "root"
    assert len(rm.stale_files(lock, root=root)) == 2
    seen = []
    written = rm.fetch(lock, root=root, progress=lambda name, done, total: seen.append((name, done)))
    assert sorted(p.name for p in written) == ["big.tflite", "small.tflite"]
    for name, content in files.items():
        assert rm.installed_file(f"models/{name}", root=root).read_bytes() == content
    assert seen and seen[-1] == ("pkg@1.0", len(data))
    assert not (root / "registry" / "models" / "README.md").exists()  # only the locked members
    assert rm.fetch(lock, root=root) == []  # everything in place: no download
    (root / "registry" / "models" / "big.tflite").write_bytes(b"truncated")
    assert [p.name for p in rm.fetch(lock, root=root)] == ["big.tflite"]  # a changed file is installed again
    assert (root / "registry" / "models" / "big.tflite").read_bytes() == files["big.tflite"]


def test_an_archive_with_another_hash_installs_nothing(tmp_path, published):
    files, url, data = published
    lock = rm.read_lock(_write_lock(tmp_path / "models.lock", url, _integrity(data + b"x"), files))
    with pytest.raises(rm.RegistryModelError, match="sha512 .* the lock says .*nothing was installed"):
        rm.fetch(lock, root=tmp_path / "root")
    assert not (tmp_path / "root").exists()


def test_a_member_missing_or_changed_installs_nothing(tmp_path, published):
    files, url, data = published
    missing = dict(files, **{"absent.tflite": b"never packed"})
    lock = rm.read_lock(_write_lock(tmp_path / "a.lock", url, _integrity(data), missing))
    with pytest.raises(rm.RegistryModelError, match="the archive has no file package/absent.tflite"):
        rm.fetch(lock, root=tmp_path / "root")
    changed = dict(files, **{"small.tflite": b"another model"})
    lock = rm.read_lock(_write_lock(tmp_path / "b.lock", url, _integrity(data), changed))
    with pytest.raises(rm.RegistryModelError, match="package/small.tflite has sha256 .* the lock says"):
        rm.fetch(lock, root=tmp_path / "root")
    assert not (tmp_path / "root").exists()


def test_an_unreachable_archive_is_a_clear_error(tmp_path, published, monkeypatch):
    files, _, data = published
    monkeypatch.setattr(rm.time, "sleep", lambda seconds: None)  # no back-off wait in the test
    url = (tmp_path / "nowhere.tgz").as_uri()
    lock = rm.read_lock(_write_lock(tmp_path / "models.lock", url, _integrity(data), files))
    with pytest.raises(rm.RegistryModelError, match=f"download of {url} failed 3 times"):
        rm.fetch(lock, root=tmp_path / "root")


@pytest.mark.parametrize("line, message", [
    ("archive pkg@1 https://x/pkg.tgz md5-abc", "integrity must be"),
    ("file other@1 package/a a 0123", "archive 'other@1' is not declared"),
    ("archive pkg@1 https://x/pkg.tgz sha512-abc\nfile pkg@1 package/a a 0123", "64-digit lower-case hex sha256"),
    ("archive pkg@1 https://x/pkg.tgz sha512-abc\nfile pkg@1 package/a ../a " + "0" * 64, "must be relative"),
    ("archives pkg@1 https://x/pkg.tgz sha512-abc", "expected 'archive <name> <url> <integrity>'"),
])
def test_a_bad_lock_line_is_named(tmp_path, line, message):
    path = tmp_path / "models.lock"
    path.write_text("# header\n" + line + "\n")
    with pytest.raises(rm.RegistryModelError, match=f"models lock {path}, line \\d: .*{message}"):
        rm.read_lock(path)


def test_a_file_not_installed_names_the_command_that_installs_it(tmp_path):
    with pytest.raises(rm.RegistryModelError, match=r"lite model not installed: .* `scorehmr-ros models fetch`"):
        rm.installed_file("mediapipe_pose/pose_landmark_lite.tflite", root=tmp_path, what="lite model")
