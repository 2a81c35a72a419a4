"""chunkml/datasets/_validation.py: the parameters both generators share."""

import pytest

from ._util import GENERATORS


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_samples=0), ValueError, "n_samples must be >= 1"),
        (dict(n_samples=10.0), TypeError, "n_samples must be an int"),
        (dict(n_features=0), ValueError, "n_features must be >= 1"),
        (dict(shuffle="yes"), TypeError, "shuffle must be a bool"),
    ],
)
def test_common_validation(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)
