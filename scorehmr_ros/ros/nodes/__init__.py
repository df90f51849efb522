"""ROS 2 node executables (each module's ``main``); the conversions and runtime helpers they share live one folder
up.
"""
