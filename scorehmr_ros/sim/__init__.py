"""Synthetic rigs with ground truth: motion clips, cameras, keypoint noise, metrics (ROS-free).

Modules:
    deepmimic     DeepMimic humanoid clips shipped with pybullet_data: parse, resample, cycle, kinematics
    retarget      DeepMimic -> SMPL pose mapping (documented there), 30 Hz
    motion        MotionClip (SMPL, z-up world), resampling, mirroring, transforms, AMASS npz loader
    kinematics    SMPL 24-joint tree in numpy (names, parents, mirror pairs, forward kinematics)
    rigs, rig_io  ring / stereo / wide camera rigs as core Cameras; rig YAML (camera pose in the world)
    layouts       OpenPose-25, COCO-17, MediaPipe-33 from the official 44-joint layout
    raster        low-resolution multi-layer rasteriser for occlusion tests
    observation   detector-like 2D keypoint error model (noise, confidence, occlusion, truncation, failures)
    scene         people + rig + body model -> ground truth and observations; scene_io: one npz per scene
    metrics       MPJPE, PA-MPJPE, PVE, acceleration error (world and camera frame)
    cli           ``scorehmr-ros sim scene`` and ``scorehmr-ros sim rig``
"""
