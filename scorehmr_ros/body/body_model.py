"""SMPL body model with the official ScoreHMR 44-joint output (torch, on smplx's LBS).

Semantics are those of ``smplx.SMPLLayer`` (rotation-matrix inputs, pose2rot=False) plus the
official wrapper (docs/scorehmr-reference.md §6):

1. smplx LBS gives posed vertices (B, 6890, 3) and the 24 SMPL joints;
2. 21 vertex keypoints are appended (nose, eyes, ears, feet, fingertips: smplx's ``smplh``
   vertex ids), giving the 45 joints of SMPLLayer;
3. the OpenPose map picks 25 of them;
4. the (19, 6890) J19 regressor applied to the posed vertices adds 19 joints (zeros when the
   model file has none), giving the 44-joint layout.

The model is read from our plain .npz (see :func:`check_model_arrays`): nothing is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import lbs, vertices2joints

from scorehmr_ros.body.joint_counts import (
    NUM_BETAS,
    NUM_BODY_JOINTS,
    NUM_EXTRA_JOINTS,
    NUM_FACES,
    NUM_OPENPOSE_JOINTS,
    NUM_POSE_BASIS,
    NUM_SMPL_JOINTS,
    NUM_VERTICES,
)

#: Vertex keypoints smplx appends to the 24 joints (smplh ids, smplx's order: face, feet, tips).
KEYPOINT_VERTEX_IDS = (
    ("nose", 332), ("reye", 6260), ("leye", 2800), ("rear", 4071), ("lear", 583),
    ("LBigToe", 3216), ("LSmallToe", 3226), ("LHeel", 3387), ("RBigToe", 6617), ("RSmallToe", 6624),
    ("RHeel", 6787),
    ("lthumb", 2746), ("lindex", 2319), ("lmiddle", 2445), ("lring", 2556), ("lpinky", 2673),
    ("rthumb", 6191), ("rindex", 5782), ("rmiddle", 5905), ("rring", 6016), ("rpinky", 6133),
)
#: Official SMPL(45 joints) -> OpenPose-25 map (smpl_to_openpose of the official wrapper).
SMPL_TO_OPENPOSE = (24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34)
#: Names of the 44 output joints (official JOINT_NAMES without the prefixes).
JOINT_NAMES_44 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    "R Ankle", "R Knee", "R Hip", "L Hip", "L Knee", "L Ankle", "R Wrist", "R Elbow", "R Shoulder",
    "L Shoulder", "L Elbow", "L Wrist", "Neck (LSP)", "Head (LSP)", "Pelvis (MPII)", "Thorax (MPII)",
    "Spine (H36M)", "Jaw (H36M)", "Head (H36M)",
)
#: Version of our .npz layout.
MODEL_FORMAT_VERSION = 1
#: Names the (19, 6890) extra-joint regressor goes by: ours first, then smplx's and the official ScoreHMR code's.
EXTRA_REGRESSOR_KEYS = ("J19", "J_regressor_extra")


class BodyModelFileError(ValueError):
    """A body model file that is missing, unreadable or has arrays of the wrong shape."""


class BodyModelInputError(ValueError):
    """Forward inputs with the wrong shape or batch size."""


@dataclass(frozen=True)
class BodyModelOutput:
    """Output of :class:`BodyModel`.

    Attributes:
        vertices_m: (B, 6890, 3) posed vertices, metres.
        joints_m: (B, 44, 3) official 44-joint layout (OpenPose-25, then 19 extra joints;
            the extra rows are zero when the model has no J19 regressor), metres.
        smpl_joints_m: (B, 24, 3) posed SMPL joints, metres.
    """

    vertices_m: torch.Tensor
    joints_m: torch.Tensor
    smpl_joints_m: torch.Tensor


def _expected_shapes(num_betas: int) -> dict[str, tuple[int, ...]]:
    return {
        "v_template": (NUM_VERTICES, 3),
        "shapedirs": (NUM_VERTICES, 3, num_betas),
        "posedirs": (NUM_VERTICES, 3, NUM_POSE_BASIS),
        "J_regressor": (NUM_SMPL_JOINTS, NUM_VERTICES),
        "weights": (NUM_VERTICES, NUM_SMPL_JOINTS),
        "kintree_table": (2, NUM_SMPL_JOINTS),
        "f": (NUM_FACES, 3),
    }


def canonical_model_arrays(arrays: dict[str, np.ndarray], *, source: str) -> dict[str, np.ndarray]:
    """``arrays`` with the extra-joint regressor under our key ``J19``, whichever of EXTRA_REGRESSOR_KEYS it has.

    Raises:
        BodyModelFileError: two different extra-joint regressors, or a (19, 6890) array under a name we do not
            read (rather than run with the 19 extra joints silently zero).
    """
    arrays = dict(arrays)
    given = [key for key in EXTRA_REGRESSOR_KEYS if key in arrays]
    if len(given) > 1 and not all(np.array_equal(arrays[given[0]], arrays[key]) for key in given[1:]):
        raise BodyModelFileError(f"{source}: holds different extra-joint regressors under {given}; keep one")
    if given:
        arrays["J19"] = arrays[given[0]]
        for key in given:
            if key != "J19":
                del arrays[key]
    extra_shape = (NUM_EXTRA_JOINTS, NUM_VERTICES)
    unread = sorted(key for key, value in arrays.items()
                    if key != "J19" and isinstance(value, np.ndarray) and value.shape == extra_shape)
    if unread:
        raise BodyModelFileError(f"{source}: array {unread[0]!r} of shape {extra_shape} looks like the extra-joint "
                                 f"regressor; name it one of {list(EXTRA_REGRESSOR_KEYS)}")
    return arrays


def check_model_arrays(arrays: dict[str, np.ndarray], *, source: str) -> None:
    """Check the arrays of a body model (our layout) and raise BodyModelFileError naming the problem.

    Required: v_template (6890, 3), shapedirs (6890, 3, S >= 10), posedirs (6890, 3, 207),
    J_regressor (24, 6890) dense, weights (6890, 24), kintree_table (2, 24), f (13776, 3)
    with indices in [0, 6890). Optional: J19 (19, 6890) (see :func:`canonical_model_arrays` for its other names).
    """
    shapedirs = arrays.get("shapedirs")
    num_betas = shapedirs.shape[-1] if isinstance(shapedirs, np.ndarray) and shapedirs.ndim == 3 else NUM_BETAS
    if num_betas < NUM_BETAS:
        raise BodyModelFileError(f"{source}: shapedirs has {num_betas} shape directions, need at least {NUM_BETAS}")
    expected = _expected_shapes(num_betas)
    if "J19" in arrays:
        expected["J19"] = (NUM_EXTRA_JOINTS, NUM_VERTICES)
    for key, shape in expected.items():
        if key not in arrays:
            raise BodyModelFileError(f"{source}: missing array {key!r} (expected shape {shape})")
        value = arrays[key]
        if not isinstance(value, np.ndarray) or value.shape != shape:
            got = value.shape if isinstance(value, np.ndarray) else type(value).__name__
            raise BodyModelFileError(f"{source}: {key} has shape {got}, expected {shape}")
        if value.dtype.kind not in "fiu":
            raise BodyModelFileError(f"{source}: {key} has dtype {value.dtype}, expected numbers")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise BodyModelFileError(f"{source}: {key} contains NaN or infinite values")
    faces = arrays["f"]
    if faces.min() < 0 or faces.max() >= NUM_VERTICES:
        raise BodyModelFileError(f"{source}: f has vertex indices outside [0, {NUM_VERTICES})")
    parents = np.asarray(arrays["kintree_table"][0], dtype=np.int64)[1:]
    if np.any(parents < 0) or np.any(parents >= np.arange(1, NUM_SMPL_JOINTS)):
        raise BodyModelFileError(f"{source}: kintree_table parents must precede their children, got {parents.tolist()}")


def load_model_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read our plain .npz body model (``allow_pickle=False``) and check it."""
    path = Path(path)
    if not path.is_file():
        raise BodyModelFileError(f"body model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:  # not a zip/npz, or object arrays that need pickle
        raise BodyModelFileError(f"{path}: not a plain-array .npz body model ({error})") from error
    arrays = canonical_model_arrays(arrays, source=str(path))
    check_model_arrays(arrays, source=str(path))
    return arrays


class BodyModel(torch.nn.Module):
    """SMPL layer: rotation matrices and betas -> vertices, 44 official joints, 24 SMPL joints.

    All model arrays are buffers (float32 unless the module is cast), so ``.to(device)`` and
    ``.double()`` move and cast everything.

    Attributes:
        is_standin: True for the generated stand-in (outputs must say so).
        description: human-readable origin ("STAND-IN body model (not SMPL): ..." for the stand-in).
        has_extra_joints: whether a J19 regressor is present (else joints 25..43 are zero).
        faces: (13776, 3) int64 buffer.
    """

    def __init__(self, arrays: dict[str, np.ndarray], *, source: str = "arrays") -> None:
        super().__init__()
        arrays = canonical_model_arrays(arrays, source=source)
        check_model_arrays(arrays, source=source)
        self.is_standin = bool(arrays.get("is_standin", np.array(False)))
        self.description = str(arrays.get("description", np.array(f"SMPL body model from {source}")))
        self.num_betas = int(arrays["shapedirs"].shape[-1])
        self.has_extra_joints = "J19" in arrays

        def as_buffer(value: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(value, dtype=np.float64)).to(torch.float32)

        self.register_buffer("v_template", as_buffer(arrays["v_template"]))  # (V, 3)
        self.register_buffer("shapedirs", as_buffer(arrays["shapedirs"]))  # (V, 3, S)
        # (V, 3, 207) -> (207, V*3), the layout smplx's lbs multiplies with.
        posedirs = np.reshape(arrays["posedirs"], (-1, NUM_POSE_BASIS)).T
        self.register_buffer("posedirs", as_buffer(posedirs))
        self.register_buffer("J_regressor", as_buffer(arrays["J_regressor"]))  # (24, V)
        self.register_buffer("lbs_weights", as_buffer(arrays["weights"]))  # (V, 24)
        parents = np.asarray(arrays["kintree_table"][0], dtype=np.int64).copy()
        parents[0] = -1
        self.register_buffer("parents", torch.from_numpy(parents))  # (24,)
        self.register_buffer("faces", torch.from_numpy(np.asarray(arrays["f"], dtype=np.int64)))  # (F, 3)
        keypoint_ids = np.array([vid for _, vid in KEYPOINT_VERTEX_IDS], dtype=np.int64)
        self.register_buffer("keypoint_vertex_ids", torch.from_numpy(keypoint_ids))  # (21,)
        self.register_buffer("joint_map", torch.tensor(SMPL_TO_OPENPOSE, dtype=torch.long))  # (25,)
        j19 = arrays["J19"] if self.has_extra_joints else np.zeros((NUM_EXTRA_JOINTS, NUM_VERTICES))
        self.register_buffer("joint_regressor_extra", as_buffer(j19))  # (19, V)

    @classmethod
    def from_file(cls, path: str | Path) -> BodyModel:
        """Load our plain .npz (an imported SMPL or the stand-in); never unpickles."""
        return cls(load_model_arrays(path), source=str(path))

    def extra_repr(self) -> str:
        return f"{self.description}, betas={self.num_betas}, extra_joints={self.has_extra_joints}"

    def _check_inputs(
        self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor, transl_m: torch.Tensor | None
    ) -> None:
        batch = global_orient.shape[0] if global_orient.dim() == 4 else -1
        checks = [
            ("global_orient", global_orient, (batch, 1, 3, 3)),
            ("body_pose", body_pose, (batch, NUM_BODY_JOINTS, 3, 3)),
        ]
        if transl_m is not None:
            checks.append(("transl_m", transl_m, (batch, 3)))
        for name, tensor, shape in checks:
            if tuple(tensor.shape) != shape:
                shown = tuple("B" if s == -1 else s for s in shape)
                raise BodyModelInputError(f"{name}: expected shape {shown}, got {tuple(tensor.shape)}")
        if betas.dim() != 2 or betas.shape[0] != batch or not 1 <= betas.shape[1] <= self.num_betas:
            raise BodyModelInputError(
                f"betas: expected shape ({batch}, S) with 1 <= S <= {self.num_betas}, got {tuple(betas.shape)}")

    def forward(
        self,
        *,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        betas: torch.Tensor,
        transl_m: torch.Tensor | None = None,
    ) -> BodyModelOutput:
        """Pose and shape the body.

        Args:
            global_orient: (B, 1, 3, 3) root rotation.
            body_pose: (B, 23, 3, 3) parent-relative joint rotations.
            betas: (B, S) shape coefficients, S <= the model's (usually 10); the first S
                shape directions are used, as smplx does with num_betas=S.
            transl_m: (B, 3) translation added to vertices and joints, metres (None: zero).
        Returns:
            BodyModelOutput with vertices (B, 6890, 3), joints (B, 44, 3), SMPL joints (B, 24, 3).
        """
        self._check_inputs(global_orient, body_pose, betas, transl_m)
        # 1. Linear blend skinning (smplx): (B, 24, 3, 3) rotations -> vertices and joints.
        full_pose = torch.cat([global_orient, body_pose], dim=1)
        shapedirs = self.shapedirs[:, :, : betas.shape[1]]
        vertices, smpl_joints = lbs(betas, full_pose, self.v_template, shapedirs, self.posedirs,
                                    self.J_regressor, self.parents, self.lbs_weights, pose2rot=False)
        # 2. Append the 21 vertex keypoints: (B, 45, 3), as smplx's SMPLLayer.
        joints45 = torch.cat([smpl_joints, vertices[:, self.keypoint_vertex_ids]], dim=1)
        # 3.-4. OpenPose-25 through the official map, then the 19 extra joints: (B, 44, 3).
        extra = vertices2joints(self.joint_regressor_extra, vertices)
        if not self.has_extra_joints:
            extra = torch.zeros_like(extra)
        joints = torch.cat([joints45[:, self.joint_map], extra], dim=1)
        if transl_m is not None:
            offset = transl_m[:, None, :]
            vertices, joints, smpl_joints = vertices + offset, joints + offset, smpl_joints + offset
            if not self.has_extra_joints:
                joints = torch.cat([joints[:, :NUM_OPENPOSE_JOINTS], extra], dim=1)
        return BodyModelOutput(vertices_m=vertices, joints_m=joints, smpl_joints_m=smpl_joints)
