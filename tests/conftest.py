"""Shared test configuration."""

import os

import pytest
from hypothesis import settings

# No deadline: the first example of a property compiles its numba kernels.  A modest
# number of examples keeps the suite fast; HYPOTHESIS_PROFILE=thorough runs more.
settings.register_profile("chunkml", deadline=None, max_examples=50)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "chunkml"))


@pytest.fixture
def numba_cache_dir(request, tmp_path_factory):
    """A numba cache of its own for bounds-checked subprocesses (kept across runs when
    pytest's cache is on), so that they neither load nor replace the normal cache."""
    name = f"numba_{request.node.name}"
    cache = getattr(request.config, "cache", None)
    return cache.mkdir(name) if cache is not None else tmp_path_factory.mktemp(name)
