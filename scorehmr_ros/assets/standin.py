"""Stand-in body model: a generated, SMPL-format mannequin for tests, demos and CI.

SMPL is licensed and cannot ship with the project. This module generates a body model with
SMPL's *format* and *conventions* but none of its data:

* 6890 vertices, 13776 faces (a closed genus-0 surface: 10 ring tubes, torso, head, arms,
  hands, legs, feet, joined by 9 connected sums, so F = 2 V - 4 exactly as SMPL; no padding);
* SMPL's 24-joint kinematic tree (official ``kintree_table`` parents) and joint order;
* about 1.72 m tall, y up, +x the body's left, +z forward, T-pose with palms down, pelvis
  near (0, -0.22, 0.03) as in SMPL's template;
* the keypoint vertex ids smplx picks (nose 332, eyes, ears, toes, heels, fingertips) placed
  on the right body parts;
* 10 shape directions: beta0 stature (+ taller), beta1 girth (+ thicker), then leg length,
  shoulder width, arm length, head size, belly, hip width, torso length and a seeded smooth
  field; zero pose correctives; linear-blend skinning weights; a J_regressor that averages
  rings of vertices around each joint (so joints follow shape changes consistently) and a
  19-row extra regressor with the J19 layout.

Every output made with it must say "STAND-IN body model (not SMPL)": the arrays carry
``is_standin`` and ``description``.
"""

from __future__ import annotations

import functools
import os
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse

from scorehmr_ros.assets.standin_mesh import Tube, connected_sum_faces, ellipsoid_profile, make_tube, resample_polyline
from scorehmr_ros.assets.standin_parts import (
    ALLOWED_JOINTS,
    BONE_END_JOINT,
    J19_SPEC,
    KEYPOINT_TARGETS,
    PART_ORDER,
    PARTS,
    PARTS_FOR_JOINT,
    REST_JOINTS_M,
)
from scorehmr_ros.body.joint_counts import (
    NUM_BETAS,
    NUM_FACES,
    NUM_POSE_BASIS,
    NUM_SMPL_JOINTS,
    NUM_VERTICES,
    SMPL_PARENTS,
)

#: What every output produced with the stand-in must say.
STANDIN_DESCRIPTION = "STAND-IN body model (not SMPL)"
#: Extra key of the stand-in's official-format pickle holding its description.
STANDIN_PKL_KEY = "scorehmr_ros_standin"
#: Skinning falloff: a vertex's weight for a bone decays as exp(-d² / (2 sigma²)).
SKINNING_SIGMA_M = 0.035
#: The official kintree_table stores the root's parent as uint32(-1).
KINTREE_ROOT_PARENT = 4294967295


def _build_part(name: str) -> Tube:
    spec = PARTS[name]
    if spec["kind"] == "ellipsoid":
        start, end = np.asarray(spec["start"], float), np.asarray(spec["end"], float)
        centers, radii = ellipsoid_profile(start, end, np.asarray(spec["radii"], float), spec["rings"])
        start_pole, end_pole = start, end
    else:
        points = np.asarray(spec["points"], float)
        centers, radii = resample_polyline(points, np.asarray(spec["radii"], float), spec["rings"])
        start_pole = points[0] - spec["cap_m"] * _unit(points[1] - points[0])
        end_pole = points[-1] + spec["cap_m"] * _unit(points[-1] - points[-2])
    return make_tube(centers, radii, ring_size=spec["ring_size"], reference_axis=np.asarray(spec["reference"], float),
                     start_pole_m=start_pole, end_pole_m=end_pole)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _axis_interpolation(tube: Tube, point_m: np.ndarray) -> list[tuple[int, float]]:
    """Rings and weights whose centre blend is the point on the tube axis closest to ``point_m``."""
    centers = tube.ring_centers_m
    best = (np.inf, 0, 0.0)
    for k in range(centers.shape[0] - 1):
        segment = centers[k + 1] - centers[k]
        alpha = float(np.clip(np.dot(point_m - centers[k], segment) / np.dot(segment, segment), 0.0, 1.0))
        distance = np.linalg.norm(centers[k] + alpha * segment - point_m)
        if distance < best[0]:
            best = (distance, k, alpha)
    _, k, alpha = best
    return [(k, 1.0 - alpha), (k + 1, alpha)]


def _regressor_row(tubes: dict[str, Tube], offsets: dict[str, int], part: str, point_m: np.ndarray) -> np.ndarray:
    """(NUM_VERTICES,) weights averaging the rings of ``part`` around ``point_m`` (sum 1)."""
    row = np.zeros(NUM_VERTICES)
    tube = tubes[part]
    for ring, weight in _axis_interpolation(tube, point_m):
        row[offsets[part] + tube.ring_vertex_ids(ring)] += weight / tube.ring_size
    return row


def _point_to_segment_distance(points_m: np.ndarray, start_m: np.ndarray, end_m: np.ndarray) -> np.ndarray:
    segment = end_m - start_m
    alpha = np.clip((points_m - start_m) @ segment / max(float(segment @ segment), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points_m - (start_m + alpha[:, None] * segment), axis=1)


def _skinning_weights(vertices_m: np.ndarray, part_of_vertex: np.ndarray, bone_ends_m: np.ndarray) -> np.ndarray:
    """(V, 24) weights: Gaussian falloff with the distance to each allowed bone, normalised per vertex."""
    log_w = np.full((vertices_m.shape[0], NUM_SMPL_JOINTS), -np.inf)
    for part_index, part in enumerate(PART_ORDER):
        mask = part_of_vertex == part_index
        for joint in ALLOWED_JOINTS[part]:
            d = _point_to_segment_distance(vertices_m[mask], REST_JOINTS_M[joint], bone_ends_m[joint])
            log_w[mask, joint] = -(d**2) / (2.0 * SKINNING_SIGMA_M**2)
    log_w -= log_w.max(axis=1, keepdims=True)
    weights = np.exp(log_w)
    return weights / weights.sum(axis=1, keepdims=True)


def _side_sign(part: str) -> float:
    return 1.0 if part.startswith("left") else (-1.0 if part.startswith("right") else 0.0)


def _shape_directions(
    vertices_m: np.ndarray, axis_center_m: np.ndarray, part_names: np.ndarray, seed: int
) -> np.ndarray:
    """(V, 3, 10) linear shape directions (displacement in metres per unit beta)."""
    v = vertices_m
    pelvis = REST_JOINTS_M[0]
    dirs = np.zeros((v.shape[0], 3, NUM_BETAS))
    side = np.array([_side_sign(p) for p in part_names])
    limb_arm = np.isin(part_names, ["left_arm", "right_arm", "left_hand", "right_hand"])
    limb_leg = np.isin(part_names, ["left_leg", "right_leg", "left_foot", "right_foot"])
    # 0 stature: uniform scaling about the pelvis, +4 % per unit (about +7 cm of height).
    dirs[:, :, 0] = 0.04 * (v - pelvis)
    # 1 girth: every ring grows about its own centre, +10 % per unit; joints do not move.
    dirs[:, :, 1] = 0.10 * (v - axis_center_m)
    # 2 leg length: stretch below the pelvis, +5 % per unit.
    below = v[:, 1] < pelvis[1]
    dirs[below, 1, 2] = 0.05 * (v[below, 1] - pelvis[1])
    # 3 shoulder width: arms and hands move sideways, 2 cm per unit.
    dirs[limb_arm, 0, 3] = 0.02 * side[limb_arm]
    # 4 arm length: stretch along x beyond the collar, +6 % per unit.
    collar_x = REST_JOINTS_M[13, 0]
    dirs[limb_arm, 0, 4] = 0.06 * (v[limb_arm, 0] - side[limb_arm] * collar_x)
    # 5 head size: the head scales about its centre, +8 % per unit.
    head = part_names == "head"
    head_center = 0.5 * (np.asarray(PARTS["head"]["start"]) + np.asarray(PARTS["head"]["end"]))
    dirs[head, :, 5] = 0.08 * (v[head] - head_center)
    # 6 belly: the front of the torso between the hips and the chest pushes forward.
    torso = part_names == "torso"
    front = torso & (v[:, 2] > axis_center_m[:, 2])
    bump = np.exp(-(((v[:, 1] - REST_JOINTS_M[3, 1]) / 0.12) ** 2))
    dirs[front, 2, 6] = 0.3 * (v[front, 2] - axis_center_m[front, 2]) * bump[front]
    # 7 hip width: legs move sideways 1.5 cm per unit, the lower torso widens with them.
    dirs[limb_leg, 0, 7] = 0.015 * side[limb_leg]
    low_torso = torso & (v[:, 1] < REST_JOINTS_M[3, 1])
    dirs[low_torso, 0, 7] = 0.1 * v[low_torso, 0]
    # 8 torso length: stretch above the pelvis, +5 % per unit (arms and head follow).
    above = v[:, 1] > pelvis[1]
    dirs[above, 1, 8] = 0.05 * (v[above, 1] - pelvis[1])
    # 9 a seeded smooth field, at most about 1 cm per unit.
    rng = np.random.default_rng(seed)
    for _ in range(3):
        frequency = rng.normal(size=(3,)) * 4.0
        amplitude = rng.normal(size=(3,)) * 0.004
        phase = rng.uniform(0, 2 * np.pi)
        dirs[:, :, 9] += amplitude[None] * np.sin(v @ frequency + phase)[:, None]
    return dirs


def _pick_keypoint_vertices(vertices_m: np.ndarray, part_of_vertex: np.ndarray) -> dict[int, int]:
    """Final SMPL vertex id -> our vertex index, nearest vertex of the named part to each target."""
    chosen: dict[int, int] = {}
    taken: set[int] = set()
    for vertex_id, (part, target) in KEYPOINT_TARGETS.items():
        candidates = np.flatnonzero(part_of_vertex == PART_ORDER.index(part))
        candidates = np.array([c for c in candidates if c not in taken])
        distance = np.linalg.norm(vertices_m[candidates] - np.asarray(target, float), axis=1)
        pick = int(candidates[np.argmin(distance)])
        chosen[vertex_id] = pick
        taken.add(pick)
    return chosen


def _vertex_order(chosen: dict[int, int]) -> np.ndarray:
    """(V,) order[final_id] = our index: keypoint ids get their vertices, the rest keep our order."""
    order = np.full(NUM_VERTICES, -1, dtype=np.int64)
    for final_id, ours in chosen.items():
        order[final_id] = ours
    remaining = np.setdiff1d(np.arange(NUM_VERTICES), np.fromiter(chosen.values(), dtype=np.int64))
    order[order < 0] = remaining
    return order


def generate_standin_body_model(*, seed: int = 0) -> dict[str, np.ndarray]:
    """Generate the stand-in body model arrays (deterministic for a given seed).

    Returns a dict in our plain-array layout (all float64 / int64 numpy arrays):
        v_template (6890, 3), shapedirs (6890, 3, 10), posedirs (6890, 3, 207) zeros,
        J_regressor (24, 6890) dense, weights (6890, 24), kintree_table (2, 24) with the
        official root parent 4294967295, f (13776, 3), J19 (19, 6890),
        is_standin () bool True, description () str.
    The arrays are fresh copies (the generation itself is cached per seed).
    """
    return {key: value.copy() for key, value in _generate_cached(int(seed)).items()}


@functools.lru_cache(maxsize=2)
def _generate_cached(seed: int) -> dict[str, np.ndarray]:
    tubes = {name: _build_part(name) for name in PART_ORDER}
    offsets, start = {}, 0
    for name in PART_ORDER:
        offsets[name] = start
        start += tubes[name].vertices_m.shape[0]
    if start != NUM_VERTICES:
        raise RuntimeError(f"stand-in parts have {start} vertices, expected {NUM_VERTICES}")
    vertices = np.concatenate([tubes[n].vertices_m for n in PART_ORDER])
    axis_center = np.concatenate([tubes[n].axis_center_m for n in PART_ORDER])
    part_of_vertex = np.concatenate([np.full(tubes[n].vertices_m.shape[0], i) for i, n in enumerate(PART_ORDER)])
    faces = np.concatenate([tubes[n].faces + offsets[n] for n in PART_ORDER])
    face_part = np.concatenate([np.full(tubes[n].faces.shape[0], i) for i, n in enumerate(PART_ORDER)])

    # Join the parts into one closed surface (connected sums along the kinematic tree).
    new_faces, removed = [], set()
    for name in PART_ORDER:
        parent = PARTS[name].get("attach_to")
        if parent is None:
            continue
        bridge, face_a, face_b = connected_sum_faces(
            vertices, faces, face_part, PART_ORDER.index(parent), PART_ORDER.index(name), removed)
        new_faces.append(bridge)
        removed.update((face_a, face_b))
    keep = np.setdiff1d(np.arange(faces.shape[0]), np.fromiter(removed, dtype=np.int64))
    faces = np.concatenate([faces[keep]] + new_faces)
    if faces.shape[0] != NUM_FACES:
        raise RuntimeError(f"stand-in mesh has {faces.shape[0]} faces, expected {NUM_FACES}")

    # Regressors, on our vertex order.
    J_regressor = np.stack([_regressor_row(tubes, offsets, PARTS_FOR_JOINT[j], REST_JOINTS_M[j])
                            for j in range(NUM_SMPL_JOINTS)])
    J19 = np.stack([_j19_row(tubes, offsets, spec) for spec in J19_SPEC])
    bone_ends = np.stack([REST_JOINTS_M[e] if isinstance(e, int) else np.asarray(e, float) for e in BONE_END_JOINT])
    weights = _skinning_weights(vertices, part_of_vertex, bone_ends)
    part_names = np.asarray(PART_ORDER)[part_of_vertex]
    shapedirs = _shape_directions(vertices, axis_center, part_names, seed)

    # Permute so the keypoint vertex ids land on the right vertices.
    order = _vertex_order(_pick_keypoint_vertices(vertices, part_of_vertex))
    new_index = np.empty_like(order)
    new_index[order] = np.arange(NUM_VERTICES)
    kintree = np.stack([np.asarray(SMPL_PARENTS, dtype=np.int64), np.arange(NUM_SMPL_JOINTS, dtype=np.int64)])
    kintree[0, 0] = KINTREE_ROOT_PARENT
    return {
        "v_template": vertices[order],
        "shapedirs": shapedirs[order],
        "posedirs": np.zeros((NUM_VERTICES, 3, NUM_POSE_BASIS)),
        "J_regressor": J_regressor[:, order],
        "weights": weights[order],
        "kintree_table": kintree,
        "f": new_index[faces],
        "J19": J19[:, order],
        "is_standin": np.array(True),
        "description": np.array(f"{STANDIN_DESCRIPTION}: generated by scorehmr_ros.assets.standin, seed {seed}"),
    }


def _j19_row(tubes: dict[str, Tube], offsets: dict[str, int], spec: tuple) -> np.ndarray:
    """One J19 row: a blend of joint regressor rows, or rings of a part around a point."""
    kind, value = spec
    if kind == "joints":
        return sum(w * _regressor_row(tubes, offsets, PARTS_FOR_JOINT[j], REST_JOINTS_M[j]) for j, w in value)
    part, point = value
    return _regressor_row(tubes, offsets, part, np.asarray(point, float))


def write_standin_npz(path: str | Path, *, seed: int = 0) -> Path:
    """Write the stand-in in our plain .npz layout (loadable with ``allow_pickle=False``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a concurrent reader never sees a partial file.
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}.npz")
    np.savez_compressed(partial, **generate_standin_body_model(seed=seed))
    os.replace(partial, path)
    return path


def official_smpl_dict(model: dict[str, np.ndarray]) -> dict[str, object]:
    """The arrays of ``model`` in the official SMPL pickle key layout (what smplx reads).

    J_regressor is a scipy.sparse.csc_matrix and f is uint32, as in the official file.
    """
    v_template = model["v_template"]
    return {
        "v_template": v_template,
        "shapedirs": model["shapedirs"],
        "posedirs": model["posedirs"],
        "J_regressor": scipy.sparse.csc_matrix(model["J_regressor"]),
        "weights": model["weights"],
        "kintree_table": model["kintree_table"],
        "f": model["f"].astype(np.uint32),
        "J": model["J_regressor"] @ v_template,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        # Extra key (smplx and the official code ignore it): the importer carries the stand-in flag over.
        STANDIN_PKL_KEY: str(model["description"]),
    }


def write_standin_official_pkl(path: str | Path, *, seed: int = 0) -> Path:
    """Write the stand-in as an official-format SMPL pickle (plain numpy + scipy.sparse, protocol 2).

    smplx (``SMPLLayer(model_path=...)``) and the official ScoreHMR code load it as they
    load ``SMPL_NEUTRAL.pkl``. The output is byte-identical for a given seed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        pickle.dump(official_smpl_dict(generate_standin_body_model(seed=seed)), stream, protocol=2)
    return path


def write_standin_j19_pkl(path: str | Path, *, seed: int = 0) -> Path:
    """Write the stand-in's (19, 6890) extra regressor as the official SMPL_to_J19.pkl (numpy array, protocol 2)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        pickle.dump(generate_standin_body_model(seed=seed)["J19"], stream, protocol=2)
    return path


def write_standin_official_layout(root: str | Path, *, seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/data/smpl/SMPL_NEUTRAL.pkl`` and ``root/data/SMPL_to_J19.pkl`` (official layout)."""
    root = Path(root)
    return (write_standin_official_pkl(root / "data" / "smpl" / "SMPL_NEUTRAL.pkl", seed=seed),
            write_standin_j19_pkl(root / "data" / "SMPL_to_J19.pkl", seed=seed))

