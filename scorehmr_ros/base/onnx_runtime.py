"""ONNX Runtime session options shared by every session the package opens (engines and perception models)."""

from __future__ import annotations


def session_options(*, intra_op_threads: int):
    """SessionOptions with ``intra_op_threads`` threads that sleep between runs.

    ONNX Runtime's threads spin after each run by default, waiting for the next one. Our sessions run between
    torch and numpy steps of the same process (the fitter, perception then fitting in ``process``), and the
    spinning takes the cores those steps need: a streaming update with the denoiser on ONNX Runtime took 14.6
    instead of 8.0 ms per person-frame on a 2-core machine with spinning, 8.1 without.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options
