"""ROS 2 nodes and message conversions (rclpy, message types); see docs/architecture.md for who else imports them."""
