"""The foundation every layer may use: array shape checks, settings dataclass fields, process groups.

Shape letters used in names and docstrings across the package:
    B  batch (people x frames x samples, flattened)
    P  people        T  frames       V  views (cameras)
    J  joints        N  vertices     D  diffusion vector size (144 = 24 x 6D)
Units are in the suffix: ``_m`` metres, ``_px`` pixels, ``_rad`` radians, ``_ns`` nanoseconds.
"""
