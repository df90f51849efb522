"""ROS 2 nodes and message conversions: the only code that imports rclpy or messages."""
