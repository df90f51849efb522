"""ROS-free perception: detector and keypoint backends, layouts, association, tracking."""
