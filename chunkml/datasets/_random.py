"""Randomness without shared state: every draw comes from a SeedSequence keyed on
(the entropy of ``random_state``, what is drawn), never from a generator that blocks
would share or advance in turn.

The driver draws the dataset's model from key ``(_MODEL_KEY,)``; block ``i`` draws its
rows from ``(_BLOCK_KEY, i, stream)``, so that a block's rows depend on its index and
the entropy only, whichever worker computes it and whenever.
"""

import numbers

import numpy as np

# spawn_key prefixes of the SeedSequences: one for the model drawn on the
# driver, one per (block, stream) for the rows. y-only streams are separate
# from the feature stream so that computing y never draws the features.
_MODEL_KEY = 0
_BLOCK_KEY = 1
_STREAM_LABELS = 0
_STREAM_FEATURES = 1
_STREAM_FLIP = 2


def _entropy(random_state):
    """128 bits of entropy drawn from ``random_state``, as a tuple of ints.

    ``None``, an int and a :class:`numpy.random.RandomState` mean what they
    mean in :func:`sklearn.utils.check_random_state` (so ``None`` follows
    ``np.random.seed`` and ``7`` gives the same data as ``RandomState(7)``); a
    :class:`numpy.random.Generator` is used directly. A ``RandomState`` or
    ``Generator`` is advanced, as in scikit-learn.
    """
    # Imported here, on the client: the block functions that workers run need no
    # scikit-learn, and importing it would cost every worker process ~110 MiB.
    from sklearn.utils import check_random_state

    if isinstance(random_state, np.random.Generator):
        words = random_state.integers(2**32, size=4, dtype=np.uint64)
    else:
        if isinstance(random_state, numbers.Integral) and random_state < 0:
            raise ValueError(
                f"random_state must be None, a non-negative int, a RandomState "
                f"or a Generator, got {random_state!r}."
            )
        words = check_random_state(random_state).randint(
            2**32, size=4, dtype=np.uint64
        )
    return tuple(int(word) for word in words)


def _model_rng(entropy):
    return np.random.default_rng(
        np.random.SeedSequence(entropy, spawn_key=(_MODEL_KEY,))
    )


def _block_rng(entropy, block_index, stream):
    return np.random.default_rng(
        np.random.SeedSequence(entropy, spawn_key=(_BLOCK_KEY, block_index, stream))
    )
