"""The fitters: the paper's uncalibrated modes (single/multi-view, temporal) and the calibrated streaming fitter's
pieces.
"""
