"""Import a user's official SMPL_NEUTRAL.pkl (+ SMPL_to_J19.pkl) into our plain .npz, once.

The official SMPL pickle is a Python-2 (latin-1) pickle holding numpy arrays, scipy sparse
matrices (J_regressor) and chumpy ``Ch`` objects (shapedirs). chumpy does not install on
current Python, and unpickling foreign files runs arbitrary code, so this module reads the
pickle with a restricted unpickler: ``find_class`` admits only numpy's array
reconstruction, a few builtins, scipy sparse matrices and chumpy's ``Ch`` - the last two
mapped to inert stand-in classes that keep only their arrays - and refuses every other
global. Every array shape is checked; the result is written with :func:`numpy.savez_compressed`
and read back at run time with ``allow_pickle=False``.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse

from scorehmr_ros.assets.standin import STANDIN_PKL_KEY
from scorehmr_ros.body.body_model import (
    EXTRA_REGRESSOR_KEYS,
    MODEL_FORMAT_VERSION,
    BodyModelFileError,
    check_model_arrays,
)
from scorehmr_ros.body.joint_counts import NUM_EXTRA_JOINTS, NUM_VERTICES

#: Keys of the official SMPL pickle that our layout keeps.
SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
_FLOAT_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")
#: Deepest nesting of dicts / chumpy objects accepted: an SMPL pickle is a flat dict of arrays, and a crafted
#: deeply nested file must end in a clear error, not in Python's recursion limit.
MAX_NESTING = 16


class SmplImportError(ValueError):
    """A file that is not a usable official SMPL / J19 pickle (the message says why)."""


class _ChumpyArray:
    """Inert replacement for ``chumpy.ch.Ch``: keeps the pickled state, whose ``x`` is the array."""

    def __setstate__(self, state) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        value = self
        for _ in range(MAX_NESTING):  # a Ch may wrap a Ch: follow 'x' a bounded number of times
            state = getattr(value, "state", None)
            value = state.get("x") if isinstance(state, dict) else None
            if not isinstance(value, _ChumpyArray):
                break
        else:
            raise SmplImportError(f"chumpy Ch objects nested more than {MAX_NESTING} deep; not an SMPL file")
        if not isinstance(value, np.ndarray):
            raise SmplImportError("a chumpy Ch object in the file has no array value 'x'")
        return value


class _SparseMatrix:
    """Inert replacement for scipy's csc/csr matrices: keeps data, indices, indptr and shape."""

    layout = "csc"

    def __setstate__(self, state) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        state = getattr(self, "state", None)
        if not isinstance(state, dict):
            raise SmplImportError("a sparse matrix in the file has no state")
        parts = [state.get(k) for k in ("data", "indices", "indptr")]
        shape = state.get("_shape", state.get("shape"))
        if not all(isinstance(p, np.ndarray) for p in parts) or not isinstance(shape, tuple):
            raise SmplImportError("a sparse matrix in the file lacks data/indices/indptr/shape")
        build = scipy.sparse.csc_matrix if self.layout == "csc" else scipy.sparse.csr_matrix
        try:
            return build(tuple(parts), shape=tuple(int(s) for s in shape)).toarray()
        except (ValueError, TypeError) as error:
            raise SmplImportError(f"a sparse matrix in the file is inconsistent: {error}") from error


class _SparseCsr(_SparseMatrix):
    layout = "csr"


def _safe_reconstructor(cls, base, state):
    """copyreg._reconstructor limited to our inert classes (protocol 0/1 pickles)."""
    if cls not in (_ChumpyArray, _SparseMatrix, _SparseCsr) or base is not object or state is not None:
        raise SmplImportError(f"refusing to reconstruct {cls!r} from the pickle")
    return object.__new__(cls)


_NUMPY_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own array reconstructor
_NUMPY_SCALAR = np.float64(0.0).__reduce__()[0]  # numpy's own scalar reconstructor
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _NUMPY_SCALAR,
    ("numpy._core.multiarray", "scalar"): _NUMPY_SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
    ("__builtin__", "set"): set, ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset, ("builtins", "frozenset"): frozenset,
    ("__builtin__", "object"): object, ("builtins", "object"): object,
    ("copy_reg", "_reconstructor"): _safe_reconstructor, ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("chumpy.ch", "Ch"): _ChumpyArray, ("chumpy", "Ch"): _ChumpyArray,
}
for _module in ("scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.compressed"):
    _ALLOWED[(_module, "csc_matrix")] = _SparseMatrix
for _module in ("scipy.sparse.csr", "scipy.sparse._csr"):
    _ALLOWED[(_module, "csr_matrix")] = _SparseCsr


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals an official SMPL pickle needs (see module doc)."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            if module.startswith("chumpy"):
                raise SmplImportError(
                    f"the pickle holds chumpy object {module}.{name}; only plain chumpy.ch.Ch arrays are supported"
                ) from None
            raise SmplImportError(f"the pickle refers to {module}.{name}, which an SMPL file does not contain; "
                                  "refusing to load it") from None


def _plain(value, depth: int = 0):
    """Replace inert chumpy / sparse objects by numpy arrays (in dicts, at most MAX_NESTING levels deep)."""
    if depth > MAX_NESTING:
        raise SmplImportError(f"dicts nested more than {MAX_NESTING} deep; an SMPL file is a flat dict of arrays")
    if isinstance(value, _ChumpyArray | _SparseMatrix):
        return value.to_array()
    if isinstance(value, dict):
        return {key: _plain(item, depth + 1) for key, item in value.items()}
    return value


def read_restricted_pickle(path: str | Path):
    """Unpickle ``path`` (latin-1, as the official code) with :class:`RestrictedUnpickler`; arrays come back plain."""
    path = Path(path)
    if not path.is_file():
        raise SmplImportError(f"file not found: {path}")
    data = path.read_bytes()
    try:
        loaded = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except SmplImportError as error:
        raise SmplImportError(f"{path}: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            UnicodeDecodeError) as error:
        raise SmplImportError(f"{path}: not a readable SMPL pickle ({type(error).__name__}: {error})") from None
    except RecursionError:
        raise SmplImportError(f"{path}: nested too deeply to be an SMPL pickle; refusing it") from None
    try:
        return _plain(loaded)
    except SmplImportError as error:
        raise SmplImportError(f"{path}: {error}") from None


def _smpl_arrays(path: Path) -> tuple[dict[str, np.ndarray], str | None]:
    """Checked-type arrays of the SMPL pickle, and the stand-in description if the file is our stand-in."""
    content = read_restricted_pickle(path)
    if not isinstance(content, dict):
        raise SmplImportError(f"{path}: expected a dict of SMPL arrays, got {type(content).__name__}")
    missing = [key for key in SMPL_KEYS if key not in content]
    if missing:
        raise SmplImportError(f"{path}: not an SMPL model file, missing {', '.join(missing)} "
                              f"(found keys: {', '.join(sorted(map(str, content)))})")
    arrays = {}
    for key in SMPL_KEYS:
        value = content[key]
        if not isinstance(value, np.ndarray):
            raise SmplImportError(f"{path}: {key} is a {type(value).__name__}, expected an array")
        arrays[key] = value.astype(np.float64) if key in _FLOAT_KEYS else value.astype(np.int64)
    for key in EXTRA_REGRESSOR_KEYS:  # smplx-style files carry the extra-joint regressor inside
        if isinstance(content.get(key), np.ndarray):
            arrays["J19"] = content[key].astype(np.float64)
            break
    standin = content.get(STANDIN_PKL_KEY)
    return arrays, (str(standin) if standin is not None else None)


def _j19_array(path: Path) -> np.ndarray:
    content = read_restricted_pickle(path)
    if not isinstance(content, np.ndarray) or content.shape != (NUM_EXTRA_JOINTS, NUM_VERTICES):
        got = content.shape if isinstance(content, np.ndarray) else type(content).__name__
        raise SmplImportError(f"{path}: expected a ({NUM_EXTRA_JOINTS}, {NUM_VERTICES}) J19 regressor, got {got}")
    return content.astype(np.float64)


def import_smpl(smpl_pkl: str | Path, *, j19_pkl: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read the official SMPL pickle (and optionally SMPL_to_J19.pkl) into checked plain arrays.

    Returns our layout: v_template (6890, 3), shapedirs (6890, 3, S >= 10, all kept),
    posedirs (6890, 3, 207), J_regressor (24, 6890) dense, weights (6890, 24),
    kintree_table (2, 24), f (13776, 3), optional J19 (19, 6890) (from ``j19_pkl``, else from the pickle's
    ``J19`` / ``J_regressor_extra``), is_standin (True only for the
    pickle our stand-in generator writes),
    description naming the source file and its SHA-256.
    """
    smpl_pkl = Path(smpl_pkl)
    arrays, standin = _smpl_arrays(smpl_pkl)
    digest = hashlib.sha256(smpl_pkl.read_bytes()).hexdigest()
    if j19_pkl is not None:
        arrays["J19"] = _j19_array(Path(j19_pkl))
    try:
        check_model_arrays(arrays, source=str(smpl_pkl))
    except BodyModelFileError as error:
        raise SmplImportError(str(error)) from None
    arrays["is_standin"] = np.array(standin is not None)
    origin = f"imported from {smpl_pkl.name} (sha256 {digest[:16]})"
    arrays["description"] = np.array(f"{standin}; {origin}" if standin else f"SMPL body model {origin}")
    arrays["format_version"] = np.array(MODEL_FORMAT_VERSION)
    return arrays


def convert_smpl(smpl_pkl: str | Path, out_npz: str | Path, *, j19_pkl: str | Path | None = None) -> Path:
    """Import (see :func:`import_smpl`) and write one compressed .npz; returns its path."""
    arrays = import_smpl(smpl_pkl, j19_pkl=j19_pkl)
    out_npz = Path(out_npz)
    out_npz.parent.mkdir(parents=True, exist_ok=True)
    partial = out_npz.with_name(f"{out_npz.name}.partial-{os.getpid()}.npz")
    np.savez_compressed(partial, **arrays)
    os.replace(partial, out_npz)
    return out_npz
