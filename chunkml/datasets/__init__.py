"""Lazy, chunked versions of scikit-learn's sample generators.

Each generator returns ``(X, y)`` as dask arrays whose graph holds one task per
row block (two layers: one for ``X``, one for ``y``), so a dataset larger than
the driver's memory is only ever materialised block by block on the workers.

Reproducibility works as follows. ``random_state`` is turned into 128 bits of
entropy once, at graph-build time. The small "model" of the dataset (centers,
covariance transforms, feature permutation, ...) is drawn on the driver from
that entropy, and block ``i`` draws its rows from its own
:class:`numpy.random.SeedSequence` spawned from the same entropy with key
``i``. The data therefore depend only on the parameters, ``random_state`` and
the row ``chunks``; not on the scheduler, the number of workers or the order
in which blocks run.
"""

# One module per idea: _validation (scalar and vector parameters), _random (the
# entropy and the per-block seeds), _blocks (row chunks and the one-task-per-block
# graph), _blobs and _classification (the generators, their block functions), and
# _classification_model (make_classification's arrays drawn on the driver). None
# imports scikit-learn at module level: workers import this package to run the block
# functions.
from ._blobs import make_blobs
from ._classification import make_classification

__all__ = ["make_blobs", "make_classification"]
