"""Time PARE's per-view regressor on CPU: seconds per crop for a few batch sizes (random official-size weights).

Usage: python tools/time_pare_view_regressor.py [--crops 1 4 8] [--threads 1] [--repeats 3]
The network's cost does not depend on the weights, so deterministic random weights of the official architecture
(HRNet-W32 + PARE head, 1905 tensors) stand in for the official checkpoint.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.image_prior import PareFeatureStats, PareModel
from scorehmr_ros.image_prior.feature_stats import POSE_FEATS_SIZE
from scorehmr_ros.image_prior.synthetic_weights import randomize_weights
from scorehmr_ros.image_prior.view_regressor import PareViewRegressor

LOG = logging.getLogger("time_pare_view_regressor")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, nargs="+", default=[1, 4, 8], help="crops per call (default 1 4 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per size, best kept (default 3)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    model = PareModel()
    randomize_weights(model, seed=0)
    model.set_feature_stats(PareFeatureStats(np.zeros(POSE_FEATS_SIZE, np.float32), np.ones(POSE_FEATS_SIZE,
                                             np.float32), None, None, "zeros/ones"))
    model.eval()
    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    rng = np.random.default_rng(0)
    for crops in args.crops:
        cameras = [Camera(name=f"cam{v}", K=K, width_px=640, height_px=480) for v in range(crops)]
        regressor = PareViewRegressor(model=model, cameras=cameras)
        images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in cameras]
        boxes = np.tile(np.array([200.0, 60.0, 380.0, 450.0], np.float32), (1, crops, 1))
        present = np.ones((1, crops), bool)
        regressor(images=images, boxes_xyxy_px=boxes, present=present)  # warm-up
        best = min(_timed(regressor, images, boxes, present) for _ in range(args.repeats))
        LOG.info("%d crop(s), %d thread(s): %.3f s per call, %.3f s per crop", crops, args.threads, best,
                 best / crops)
    return 0


def _timed(regressor: PareViewRegressor, images, boxes, present) -> float:
    start = time.perf_counter()
    regressor(images=images, boxes_xyxy_px=boxes, present=present)
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
