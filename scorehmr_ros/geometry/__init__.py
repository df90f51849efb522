"""Rotations and quaternions, rigid transforms, cameras and projection, triangulation, the stamped transform
buffer, rigs and their YAML.
"""
