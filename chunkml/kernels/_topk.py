"""A fixed-capacity min-heap that keeps the rows with the largest keys seen so far."""

from numba import njit

from ._config import CACHE


@njit(nogil=True, cache=CACHE)
def topk_push(heap_key, heap_idx, size, key, idx):
    """Offer (key, idx) to the heap; return the new size.

    heap_key float64 (m,) INOUT, heap_idx int64 (m,) INOUT. The smallest kept key sits at
    position 0. On equal keys the row offered first is kept, so the result is
    deterministic for a given row order.
    """
    cap = heap_key.shape[0]
    if size < cap:
        pos = size
        heap_key[pos] = key
        heap_idx[pos] = idx
        while pos > 0:
            parent = (pos - 1) >> 1
            if heap_key[parent] <= heap_key[pos]:
                break
            heap_key[parent], heap_key[pos] = heap_key[pos], heap_key[parent]
            heap_idx[parent], heap_idx[pos] = heap_idx[pos], heap_idx[parent]
            pos = parent
        return size + 1
    if cap == 0 or not key > heap_key[0]:
        return size
    heap_key[0] = key
    heap_idx[0] = idx
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and heap_key[left + 1] < heap_key[left]:
            child = left + 1
        if heap_key[pos] <= heap_key[child]:
            break
        heap_key[child], heap_key[pos] = heap_key[pos], heap_key[child]
        heap_idx[child], heap_idx[pos] = heap_idx[pos], heap_idx[child]
        pos = child
    return size


@njit(nogil=True, cache=CACHE)
def topk_finish(heap_key, heap_idx, size):
    """Mark unused heap slots with key -1 and index -1 (keys of real rows are >= 0)."""
    for j in range(size, heap_key.shape[0]):
        heap_key[j] = -1.0
        heap_idx[j] = -1
