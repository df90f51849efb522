"""Synthetic rigs with ground truth: motion clips, cameras, keypoint noise, metrics."""
