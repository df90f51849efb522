"""scorehmr_ros: multi-camera 3D human body fitting (ScoreHMR) for ROS 2.

Only ``scorehmr_ros.nodes`` imports rclpy or message types; everything else is
ROS-free and usable with torch and numpy alone.
"""

import pkgutil

# The generated interfaces (scorehmr_ros.msg) and the hand-written modules may live in two
# directories of the same package: site-packages (rosidl install) and a source checkout.
# Extending __path__ lets either copy of this file find both halves.
__path__ = pkgutil.extend_path(__path__, __name__)

__version__ = "0.1.0"
