"""Person detectors and keypoint estimators behind one small interface (see types.py, config.py)."""
