"""Times the embedded BlazePose backend on this machine: ``python -m scorehmr_ros.cli.perception_bench``.

Views are 640 x 480 frames, each holding the portrait that ships with matplotlib (one person; with
``--people 2`` a mirrored copy beside it). Reports milliseconds per call, median of ``--repeats``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig
from scorehmr_ros.perception.backends.factory import build_detector, build_keypoint_estimator


def make_view(*, people: int, width_px: int = 640, height_px: int = 480) -> np.ndarray:
    """(H, W, 3) uint8 frame with ``people`` (1 or 2) copies of the matplotlib portrait."""
    portrait = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    row = np.concatenate([portrait, portrait[:, ::-1]], axis=1) if people == 2 else portrait
    scale = min(width_px / row.shape[1], height_px / row.shape[0])
    resized = cv2.resize(row, (int(row.shape[1] * scale), int(row.shape[0] * scale)))
    frame = np.full((height_px, width_px, 3), 90, np.uint8)
    frame[:resized.shape[0], :resized.shape[1]] = resized
    return frame


def _median_ms(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--views", type=int, default=4, help="views per synchronized set")
    parser.add_argument("--people", type=int, choices=(1, 2), default=1, help="people per view")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of the TFLite runtime")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs (median reported)")
    args = parser.parse_args(argv)
    detector = build_detector(DetectorConfig(num_threads=args.threads))
    landmarker = build_keypoint_estimator(KeypointConfig(num_threads=args.threads))
    views = [make_view(people=args.people)] * args.views
    detections = detector.detect(views)
    found = sum(d.num_people for d in detections)
    detect_ms = _median_ms(lambda: detector.detect(views), args.repeats)
    landmark_ms = _median_ms(lambda: landmarker.estimate(views, detections), args.repeats)
    sys.stdout.write(f"{args.views} views x {args.people} person(s), {found} detected, {args.threads} threads\n"
                     f"detector   {detect_ms:7.1f} ms per set  ({detect_ms / args.views:.1f} ms per view)\n"
                     f"landmarks  {landmark_ms:7.1f} ms per set  ({landmark_ms / max(found, 1):.1f} ms per person)\n"
                     f"total      {detect_ms + landmark_ms:7.1f} ms per set\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
