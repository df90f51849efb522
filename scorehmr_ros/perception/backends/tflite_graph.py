"""Pruning a TFLite model to the outputs we read (model bytes in, model bytes out; nothing is written to disk).

A TFLite interpreter runs every operator of its subgraph, whether or not anything reads the tensor it makes.
MediaPipe's ``pose_landmark_full.tflite`` also computes a 256 x 256 person segmentation that BlazePose's
landmarks never use: dropping the operators only that output needs (46 of 286 kernels, 9 % of the
multiply-adds but full-resolution memory traffic) took one crop from 9.5 to 5.6 ms on 2 threads, outputs
bit-identical (docs/perception.md).

The model is a FlatBuffer of the TFLite schema (``ai_edge_litert.schema_py_generated``, the object API): one
subgraph of tensors and operators, each operator listing its input and output tensor indices (-1 for an
optional input left out). Constant tensors point into ``buffers``; unused ones stay in the file (harmless).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scorehmr_ros.perception.backends.types import PerceptionError

#: FlatBuffer file identifier of a TFLite model.
TFLITE_IDENTIFIER = b"TFL3"


def tflite_output_names(model_bytes: bytes) -> list[str]:
    """The first subgraph's output tensor names, in the model's order."""
    subgraph = _unpack(model_bytes).subgraphs[0]
    return [subgraph.tensors[int(i)].name.decode() for i in subgraph.outputs]


def prune_tflite_outputs(model_bytes: bytes, keep: Sequence[str]) -> bytes:
    """The model with only the outputs named in ``keep`` and the operators they need (order kept).

    Raises PerceptionError naming the model's outputs when one of ``keep`` is not among them, or when the model
    has more than one subgraph (control flow: pruning would need to follow it).
    """
    import flatbuffers

    model = _unpack(model_bytes)
    if len(model.subgraphs) != 1:
        raise PerceptionError(f"pruning a TFLite model: expected one subgraph, this one has {len(model.subgraphs)}")
    subgraph = model.subgraphs[0]
    by_name = {subgraph.tensors[int(i)].name.decode(): int(i) for i in subgraph.outputs}
    missing = [name for name in keep if name not in by_name]
    if missing:
        raise PerceptionError(f"TFLite model outputs {sorted(by_name)}: {missing} not among them")
    kept_outputs = [by_name[name] for name in keep]
    producer = {int(tensor): number for number, op in enumerate(subgraph.operators) for tensor in op.outputs}
    needed: set[int] = set()
    pending = list(kept_outputs)
    while pending:  # walk back from the kept outputs through the operators that make each tensor
        number = producer.get(pending.pop())
        if number is None or number in needed:
            continue
        needed.add(number)
        pending.extend(int(t) for t in subgraph.operators[number].inputs if t >= 0)
    subgraph.operators = [op for number, op in enumerate(subgraph.operators) if number in needed]
    subgraph.outputs = np.asarray(kept_outputs, dtype=np.int32)
    kept = set(kept_outputs)
    for signature in model.signatureDefs or []:
        signature.outputs = [o for o in signature.outputs if o.tensorIndex in kept]
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def _unpack(model_bytes: bytes):
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as error:
        raise PerceptionError("reading a TFLite model's graph needs ai-edge-litert "
                              "(requirements/core.txt)") from error
    if model_bytes[4:8] != TFLITE_IDENTIFIER:
        raise PerceptionError(f"not a TFLite model: file identifier {model_bytes[4:8]!r}, expected "
                              f"{TFLITE_IDENTIFIER!r}")
    return schema.ModelT.InitFromPackedBuf(model_bytes, 0)
