"""From synchronized keypoint sets to tracked bodies: association, tracking, swap resolution, the streaming fitter,
the engine.
"""
