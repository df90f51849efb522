"""colcon builds the repository in a workspace, and the installed package joins messages and modules."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)

pytestmark = pytest.mark.slow


def checkout_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files: what a clone of this working tree would hold."""
    listing = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                             capture_output=True, check=True).stdout.decode()
    return [name for name in listing.split("\0") if name and (REPO / name).is_file()]


@pytest.mark.skipif(shutil.which("colcon", path=str(VENV / "bin")) is None, reason="colcon is not installed")
def test_colcon_build_installs_messages_beside_modules(tmp_path):
    source = tmp_path / "src" / "scorehmr_ros"
    for name in checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    env = {**os.environ, "AMENT_PREFIX_PATH": str(VENV), "CMAKE_PREFIX_PATH": str(VENV),
           "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"}
    build = subprocess.run(
        [str(VENV / "bin" / "colcon"), "build", "--event-handlers", "console_cohesion-",
         "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    log = tmp_path / "log" / "latest_build" / "scorehmr_ros" / "stdout_stderr.log"
    assert build.returncode == 0, build.stdout[-3000:] + (log.read_text()[-5000:] if log.exists() else "")
    site = tmp_path / "install" / "scorehmr_ros" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = site / "site-packages"
    probe = (
        "import scorehmr_ros.msg as m, scorehmr_ros.geometry.camera as c, scorehmr_ros.ros.geometry_conversions as g;"
        "print(m.__file__); print(c.__file__); print(g.__file__);"
        "b = m.SMPLBody(track_id=3); print(len(b.joint_rotations))"
    )
    # Only the workspace install and the venv's third-party packages: no checkout on the path.
    run_env = {**env, "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}
    venv_site = VENV / "lib" / site.parent.name / "site-packages"
    path_setup = f"import site, sys; site.addsitedir({str(site)!r}); sys.path.append({str(venv_site)!r}); "
    result = subprocess.run([sys.executable, "-S", "-c", path_setup + probe], cwd=tmp_path, env=run_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert all(line.startswith(str(site)) for line in lines[:3]), lines
    assert lines[3] == "24"
    assert (tmp_path / "install" / "scorehmr_ros" / "bin" / "scorehmr-ros").exists()
    # `ros2 run scorehmr_ros <node>` finds executables in lib/<package>/ (the launch graph's executables).
    for name in ("person_detector", "keypoint_estimator", "perception", "scorehmr", "sim_rig", "bag_recorder",
                 "rig_tf"):
        assert os.access(tmp_path / "install" / "scorehmr_ros" / "lib" / "scorehmr_ros" / name, os.X_OK), name
