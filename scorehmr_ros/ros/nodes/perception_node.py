"""perception: person_detector and keypoint_estimator composed in one process (lowest latency)."""

from scorehmr_ros.ros.nodes.keypoint_estimator_node import perception_main as main

if __name__ == "__main__":
    main()
