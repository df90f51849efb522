"""The SMPL body model, joint layouts and counts, the keypoint body, inverse kinematics, body frames, mesh
decimation.
"""
