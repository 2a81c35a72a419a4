"""Persist X for a fit, or stream it: keep in memory what fits, read the rest from source.

A fit reads X several times (the k-means|| passes, one per Lloyd iteration). A lazy X
that fits comfortably in memory is persisted once, so that later passes read memory, not
the source (disk, a generator, a DataFrame pipeline); one that does not fit is streamed,
each pass reading every block once, so memory stays bounded by a few blocks per thread.

The dask config key ``chunkml.persist`` chooses: ``"auto"`` (default), ``True`` (always
persist) or ``False`` (always stream), e.g. ``dask.config.set({"chunkml.persist": False})``.
"""

import logging

import dask
import numpy as np
import psutil
from dask.core import istask

logger = logging.getLogger("chunkml")

CONFIG_KEY = "chunkml.persist"
# Persist under "auto" only while X takes at most this share of the memory left.
MEMORY_SHARE = 0.5


def in_memory(X):
    """Whether every block of X is already held (numpy-backed, or persisted)."""
    return not any(istask(node) for node in dict(X.__dask_graph__()).values())


def available_memory():
    """Bytes free for new data: the workers' limits minus their use under a distributed
    Client, else this machine's available RAM."""
    try:
        from distributed import default_client

        info = default_client().scheduler_info()["workers"].values()
    except (ImportError, ValueError):
        return psutil.virtual_memory().available
    limits = [w.get("memory_limit") or 0 for w in info]
    if not limits or not all(limits):
        return psutil.virtual_memory().available
    used = sum(w.get("metrics", {}).get("memory", 0) for w in info)
    return sum(limits) - used


def should_persist(X, sample_weight=None):
    mode = dask.config.get(CONFIG_KEY, "auto")
    if mode not in ("auto", True, False):
        raise ValueError(f"dask config {CONFIG_KEY!r} must be 'auto', True or False; "
                         f"got {mode!r}.")
    if mode != "auto":
        return mode and not in_memory(X)
    if in_memory(X) or np.isnan(X.nbytes):
        return False
    nbytes = X.nbytes + (0 if sample_weight is None else 8 * X.shape[0])
    return nbytes <= MEMORY_SHARE * available_memory()


def persist_for_fit(X, sample_weight=None):
    """(X, sample_weight) to run the fit's passes on: persisted when `should_persist`."""
    if not should_persist(X, sample_weight):
        if not in_memory(X):
            logger.info("streaming X (%s bytes) from its source on every pass", X.nbytes)
        return X, sample_weight
    logger.info("persisting X (%s bytes) once for the fit", X.nbytes)
    if sample_weight is None or not hasattr(sample_weight, "dask"):
        return X.persist(), sample_weight
    return dask.persist(X, sample_weight)
