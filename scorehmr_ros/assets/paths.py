"""Where model files live: one data root, the official layout under it, one list of files.

The data root is, in order: an explicit argument, the environment variable
``SCOREHMR_DATA_ROOT``, or ``~/.cache/scorehmr_ros``. Official files keep the official
relative paths under it (``data/smpl/SMPL_NEUTRAL.pkl``, ...), so a ScoreHMR checkout with
its ``data/`` folder can serve directly as the data root. Files the project makes itself
(the imported SMPL arrays, the stand-in) live under ``converted/`` and ``standin/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable naming the data root.
DATA_ROOT_ENV = "SCOREHMR_DATA_ROOT"
#: Data root used when neither an argument nor the environment variable gives one.
DEFAULT_DATA_ROOT = Path("~/.cache/scorehmr_ros")


@dataclass(frozen=True)
class ModelFile:
    """One file of the official data layout.

    Attributes:
        name: short key (``smpl_neutral``, ``score_hmr``, ...).
        relative_path: path under the data root, as the official code opens it.
        description: what it is and where a user gets it.
        required: whether fitting needs it (optional ones enable extra features).
    """

    name: str
    relative_path: str
    description: str
    required: bool = True


#: The official files, with their official relative paths.
OFFICIAL_FILES = (
    ModelFile("smpl_neutral", "data/smpl/SMPL_NEUTRAL.pkl",
              "SMPL neutral model (licensed; download from smpl.is.tue.mpg.de and rename), imported once"),
    ModelFile("smpl_to_j19", "data/SMPL_to_J19.pkl", "(19, 6890) extra joint regressor from the ScoreHMR data zip",
              required=False),
    ModelFile("score_hmr", "data/model_weights/score_hmr/model-100.pt", "ScoreHMR diffusion checkpoint (EMA weights)"),
    ModelFile("pare", "data/model_weights/pare/pare_checkpoint.ckpt", "PARE checkpoint (image features)"),
    ModelFile("pare_feat_stats", "data/stats/pare_feat_stats.npz", "mean/std of the PARE pose features"),
    ModelFile("smpl_mean_params", "data/smpl_mean_params.npz", "SMPL mean parameters (PARE head initialisation)",
              required=False),
)
_BY_NAME = {f.name: f for f in OFFICIAL_FILES}

#: Our converted copy of the user's SMPL (plain arrays, loaded without unpickling).
CONVERTED_SMPL_RELATIVE = "converted/smpl_neutral.npz"
#: The generated stand-in body model (plain arrays).
STANDIN_NPZ_RELATIVE = "standin/standin_body_model.npz"
#: The stand-in in the official layout (for running the official code on it).
STANDIN_OFFICIAL_ROOT_RELATIVE = "standin/official"


def data_root(root: str | Path | None = None) -> Path:
    """The data root: ``root`` if given, else $SCOREHMR_DATA_ROOT, else ~/.cache/scorehmr_ros (expanded)."""
    if root is None:
        root = os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT
    return Path(root).expanduser()


def model_file_path(name: str, *, root: str | Path | None = None) -> Path:
    """Absolute path of one official file by its short name; an unknown name lists the valid ones."""
    if name not in _BY_NAME:
        raise KeyError(f"unknown model file {name!r}; known: {', '.join(_BY_NAME)}")
    return data_root(root) / _BY_NAME[name].relative_path


def converted_smpl_path(*, root: str | Path | None = None) -> Path:
    """Where ``smpl_import`` writes the plain-array copy of the user's SMPL."""
    return data_root(root) / CONVERTED_SMPL_RELATIVE


def standin_body_model_path(*, root: str | Path | None = None) -> Path:
    """Where the generated stand-in body model (.npz) lives."""
    return data_root(root) / STANDIN_NPZ_RELATIVE


def standin_official_root(*, root: str | Path | None = None) -> Path:
    """A root holding the stand-in as ``data/smpl/SMPL_NEUTRAL.pkl`` and ``data/SMPL_to_J19.pkl``."""
    return data_root(root) / STANDIN_OFFICIAL_ROOT_RELATIVE


def ensure_standin_body_model(*, root: str | Path | None = None, seed: int = 0) -> Path:
    """Path of the stand-in .npz, generating it first if it is missing."""
    path = standin_body_model_path(root=root)
    if not path.is_file():
        from scorehmr_ros.assets.standin import write_standin_npz

        write_standin_npz(path, seed=seed)
    return path


#: The keypoint-only prior shipped with the package (model card beside it).
BUNDLED_PRIOR_RELATIVE = Path("data") / "priors" / "deepmimic_prior.pt"


def bundled_prior_path() -> Path:
    """The shipped keypoint-only DeepMimic prior (``scorehmr_ros/data/priors/deepmimic_prior.pt``)."""
    return Path(__file__).resolve().parents[1] / BUNDLED_PRIOR_RELATIVE


def resolve_body_model(path: str | Path = "", *, root: str | Path | None = None) -> Path:
    """The body model file to use: ``path`` if given, else the imported SMPL, else the generated stand-in
    (``BodyModel.is_standin`` then says so, and every output must)."""
    if str(path):
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"body model {path} does not exist (import your SMPL with "
                                    "`scorehmr-ros models import-smpl`, or leave the path empty for the stand-in)")
        return path
    imported = converted_smpl_path(root=root)
    return imported if imported.is_file() else ensure_standin_body_model(root=root)
