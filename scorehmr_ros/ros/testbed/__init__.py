"""The simulator's ROS face: the simulated camera rig node and the in-process demo graph (the only ROS code that
imports sim).
"""
