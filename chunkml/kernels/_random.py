"""Counter-based random numbers: a row's uniform is a pure function of its coordinates.

A row's draw depends only on (seed, stream, global row index), never on which block or
thread handles the row, so sampling gives the same rows whatever the chunking.

(seed, stream) is hashed once into a key; the draw of row i is then output i of the
SplitMix64 generator seeded with that key, one finaliser per row.
"""

import numpy as np
from numba import njit

from ._config import CACHE, helper

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV_2_53 = 1.0 / 9007199254740992.0


@njit(nogil=True, cache=CACHE)
def splitmix64(x):
    """SplitMix64 finaliser of a uint64 (Steele, Lea and Flood 2014); wraps modulo 2**64."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@helper(fastmath=False)
def stream_key(seed, stream):
    """uint64 key of the random stream (seed, stream), both non-negative integers."""
    return splitmix64(splitmix64(np.uint64(seed)) ^ np.uint64(stream))


@njit(nogil=True, cache=CACHE, inline="always")
def uniform_at(key, index):
    """Uniform float64 in (0, 1]: output `index` of SplitMix64 seeded with `key`."""
    h = splitmix64(key + np.uint64(index) * _GOLDEN)
    return (np.float64(h >> _S11) + 1.0) * _INV_2_53


@njit(nogil=True, cache=CACHE)
def counter_uniform(seed, stream, index):
    """Uniform float64 in (0, 1] from (seed, stream, index), all non-negative integers."""
    return uniform_at(stream_key(seed, stream), index)
