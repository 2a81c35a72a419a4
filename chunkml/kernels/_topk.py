"""A fixed-capacity min-heap that keeps the rows with the largest keys seen so far."""

from ._config import helper


@helper(fastmath=False)
def _worse(key_a, idx_a, key_b, idx_b):
    """Whether row a ranks below row b: a smaller key, or an equal key and larger index."""
    return key_a < key_b or (key_a == key_b and idx_a > idx_b)


@helper(fastmath=False)
def topk_push(heap_key, heap_idx, size, key, idx):
    """Offer (key, idx) to the heap; return the new size.

    heap_key float64 (m,) INOUT, heap_idx int64 (m,) INOUT. Rows are ranked by key, and
    on equal keys the smaller index ranks higher, so the kept set is the m best rows
    whatever the order they are offered in (and so whatever the chunking or the number
    of threads). The worst kept row sits at position 0.
    """
    cap = heap_key.shape[0]
    if size < cap:
        pos = size
        heap_key[pos] = key
        heap_idx[pos] = idx
        while pos > 0:
            parent = (pos - 1) >> 1
            if not _worse(heap_key[pos], heap_idx[pos], heap_key[parent], heap_idx[parent]):
                break
            heap_key[parent], heap_key[pos] = heap_key[pos], heap_key[parent]
            heap_idx[parent], heap_idx[pos] = heap_idx[pos], heap_idx[parent]
            pos = parent
        return size + 1
    if cap == 0 or not _worse(heap_key[0], heap_idx[0], key, idx):
        return size
    heap_key[0] = key
    heap_idx[0] = idx
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and _worse(heap_key[left + 1], heap_idx[left + 1],
                                      heap_key[left], heap_idx[left]):
            child = left + 1
        if not _worse(heap_key[child], heap_idx[child], heap_key[pos], heap_idx[pos]):
            break
        heap_key[child], heap_key[pos] = heap_key[pos], heap_key[child]
        heap_idx[child], heap_idx[pos] = heap_idx[pos], heap_idx[child]
        pos = child
    return size


@helper(fastmath=False)
def topk_finish(heap_key, heap_idx, size):
    """Mark unused heap slots with key -1 and index -1 (keys of real rows are >= 0)."""
    for j in range(size, heap_key.shape[0]):
        heap_key[j] = -1.0
        heap_idx[j] = -1


@helper(fastmath=False)
def decode_far(heap_idx, out_label, n_clusters):
    """Split a far-row heap's codes (row * n_clusters + label) into rows and labels.

    The Lloyd kernels push each row with the label it was summed under, so that
    relocating an empty cluster takes the row out of the cluster that really holds it.
    The heap ranks equal keys by code, hence by row, exactly as by row index alone.
    heap_idx (m,) int64 INOUT: codes in, rows out (-1 stays -1); out_label (m,) int64 OUT.
    """
    for s in range(heap_idx.shape[0]):
        code = heap_idx[s]
        heap_idx[s] = -1 if code < 0 else code // n_clusters
        out_label[s] = -1 if code < 0 else code % n_clusters
