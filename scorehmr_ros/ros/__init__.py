"""The only layer that imports rclpy or message types: nodes, message conversions, runtime helpers, bag I/O, launch
graph, DDS.
"""
