"""pip install of scorehmr_ros: the ROS-free core, tools and CLI.

The ROS 2 nodes and messages are built by CMakeLists.txt (colcon, or ``make setup`` in a
pip-only environment); ``pip install .`` alone gives the core, the simulator and the CLI.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name: str) -> list[str]:
    lines = (HERE / "requirements" / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="scorehmr_ros",
    version="0.1.0",
    description="Multi-camera 3D human body fitting with ScoreHMR for ROS 2",
    packages=find_packages(include=["scorehmr_ros", "scorehmr_ros.*"]),
    package_data={"scorehmr_ros": ["data/*", "data/**/*"]},
    python_requires=">=3.10",
    install_requires=read_requirements("core.txt"),
    extras_require={"ros": read_requirements("ros.txt"), "test": read_requirements("test.txt")},
    entry_points={"console_scripts": [
        "scorehmr-ros = scorehmr_ros.cli.main:main",
        # The nodes (as CMake installs them into lib/scorehmr_ros for `ros2 run`; see scripts/nodes/).
        "person_detector = scorehmr_ros.ros.nodes.person_detector_node:main",
        "keypoint_estimator = scorehmr_ros.ros.nodes.keypoint_estimator_node:main",
        "perception = scorehmr_ros.ros.nodes.perception_node:main",
        "scorehmr = scorehmr_ros.ros.nodes.scorehmr_node:main",
        "sim_rig = scorehmr_ros.ros.testbed.sim_rig_node:main",
        "bag_recorder = scorehmr_ros.ros.nodes.bag_recorder_node:main",
        "rig_tf = scorehmr_ros.ros.nodes.rig_tf_node:main",
    ]},
)
