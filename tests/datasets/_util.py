"""What the datasets tests share: the generators, computing both arrays at once, and
make_classification without its random parts (no shuffle, no flipped labels)."""

import dask

from chunkml.datasets import make_blobs, make_classification


GENERATORS = [make_blobs, make_classification]


def _compute(X, y):
    return dask.compute(X, y, scheduler="sync")


def _unshuffled(**kwargs):
    defaults = dict(n_samples=20_000, chunks=6000, flip_y=0.0, shuffle=False,
                    random_state=0)
    defaults.update(kwargs)
    return _compute(*make_classification(**defaults))
