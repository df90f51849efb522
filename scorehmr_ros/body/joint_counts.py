"""Joint, shape-parameter and mesh counts of SMPL, its kinematic tree, and the official ScoreHMR layouts' sizes:
their one home.

Plain integers with no imports, so numpy-only modules (stand-in generator, simulation, layouts) can use
them without loading torch / smplx through :mod:`scorehmr_ros.body.body_model`.
"""

from __future__ import annotations

#: SMPL's kinematic tree: the root (global orientation) plus the body joints.
NUM_SMPL_JOINTS = 24
#: SMPL body joints below the root (``body_pose`` rows).
NUM_BODY_JOINTS = NUM_SMPL_JOINTS - 1
#: SMPL shape coefficients the models and priors use.
NUM_BETAS = 10
#: OpenPose BODY_25 keypoints, the first rows of the official layout and the fitter's target.
NUM_OPENPOSE_JOINTS = 25
#: Extra ("GT") joints the J19 regressor adds after the OpenPose rows.
NUM_EXTRA_JOINTS = 19
#: Rows of the official ScoreHMR 44-joint layout: OpenPose-25 followed by the 19 extra joints.
NUM_OFFICIAL_JOINTS = NUM_OPENPOSE_JOINTS + NUM_EXTRA_JOINTS
#: Vertices and triangles of the SMPL mesh (and of the generated STAND-IN, which keeps SMPL's topology).
NUM_VERTICES = 6890
NUM_FACES = 13776
#: Pose-corrective blend shapes: 23 body joints x 9 rotation-matrix entries.
NUM_POSE_BASIS = 9 * NUM_BODY_JOINTS
#: Parent of each SMPL joint (-1: the root), in SMPL's joint order; parents precede their children.
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
