"""Shared test configuration."""

import os

from hypothesis import settings

# No deadline: the first example of a property compiles its numba kernels.  A modest
# number of examples keeps the suite fast; HYPOTHESIS_PROFILE=thorough runs more.
settings.register_profile("chunkml", deadline=None, max_examples=50)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "chunkml"))
