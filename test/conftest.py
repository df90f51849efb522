"""Shared pytest configuration: the real-DDS harness and markers that skip what cannot run here."""

import os
import shutil
import tempfile

import pytest

pytest_plugins = ["ros_harness"]


def pytest_configure(config):
    # engines built by nodes and `process` under test (accel.backend auto) go to a folder of this run, not the
    # user's cache; child processes inherit it
    config.engine_cache_dir = tempfile.mkdtemp(prefix="scorehmr_engines_")
    os.environ["SCOREHMR_ENGINE_CACHE"] = config.engine_cache_dir


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "engine_cache_dir", ""), ignore_errors=True)  # megabytes of ONNX exports per run


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_cuda = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "requires_cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)
