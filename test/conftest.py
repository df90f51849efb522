"""Shared pytest configuration: the real-DDS harness and markers that skip what cannot run here."""

import pytest

pytest_plugins = ["ros_harness"]


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
