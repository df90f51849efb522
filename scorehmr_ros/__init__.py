"""scorehmr_ros: multi-camera 3D human body fitting (ScoreHMR) for ROS 2.

``scorehmr_ros.ros.nodes`` holds the ROS 2 nodes and message conversions. ``core``, ``perception``,
``accel``, ``assets`` and ``sim`` are ROS-free and usable with torch and numpy alone; of the
top-level modules, ``recording`` (rclpy serialization), ``demo`` and ``demo_report`` import rclpy
or message types too (docs/architecture.md).
"""

import pkgutil

# The generated interfaces (scorehmr_ros.msg) and the hand-written modules may live in two
# directories of the same package: site-packages (rosidl install) and a source checkout.
# Extending __path__ lets either copy of this file find both halves.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
