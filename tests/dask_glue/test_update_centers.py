"""lloyd.update_centers: new centers from a Lloyd partial, empty clusters relocated to the
far rows; against a plain-numpy reference and scikit-learn's relocation."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chunkml.dask_glue._blocks import lloyd_block
from chunkml.dask_glue._partials import LloydPartial, best_rows, merge_lloyd
from chunkml.dask_glue.lloyd import update_centers

_sk_common = pytest.importorskip("sklearn.cluster._k_means_common")
_relocate_sklearn = getattr(_sk_common, "_relocate_empty_clusters_dense", None)


def _assignment(X, w, labels, centers_old):
    """What a Lloyd pass measures of a given assignment: per-cluster sums and weights,
    and each row's squared distance to the center it is summed under."""
    n_clusters = centers_old.shape[0]
    sums = np.zeros_like(centers_old)
    np.add.at(sums, labels, w[:, None] * X)
    weight = np.bincount(labels, weights=w, minlength=n_clusters)
    dist = ((X - centers_old[labels]) ** 2).sum(axis=1)
    return sums, weight, dist


def _partial(X, w, labels, centers_old):
    """The LloydPartial of that assignment, with n_clusters far rows."""
    sums, weight, dist = _assignment(X, w, labels, centers_old)
    rows = np.arange(X.shape[0], dtype=np.int64)
    far = best_rows(dist, rows, centers_old.shape[0])
    return LloydPartial(
        n_samples=X.shape[0], n_far=centers_old.shape[0], inertia=float(w @ dist),
        sums=sums, weight=weight, moments=None, far_dist=dist[far], far_row=rows[far],
        far_label=labels[far].astype(np.int64), far_weight=w[far], far_X=X[far],
        min_weight=float(w.min()))


def reference_update(X, w, labels, centers_old):
    """Relocation by its definition: when some row is away from its center, each empty
    cluster in turn takes the farthest row not yet taken (equal distances: lowest row),
    which then belongs to it alone; each cluster is the weighted mean of its rows, or,
    with no weight, the row it took, or else its old center."""
    n_clusters = centers_old.shape[0]
    _, weight, dist = _assignment(X, w, labels, centers_old)
    labels = labels.copy()
    taken = {}
    empty = [j for j in range(n_clusters) if weight[j] == 0]
    if empty and dist.max() > 0:
        order = np.lexsort((np.arange(X.shape[0]), -dist))
        for j, row in zip(empty, order):
            labels[row] = j
            taken[j] = row
    centers = centers_old.copy()
    for j in range(n_clusters):
        members = labels == j
        if w[members].sum() > 0:
            centers[j] = (w[members, None] * X[members]).sum(axis=0) / w[members].sum()
        elif j in taken:
            centers[j] = X[taken[j]]
    return centers


@st.composite
def assignments(draw, positive_weights=False, ties=True):
    n_clusters = draw(st.integers(1, 6))
    n_features = draw(st.integers(1, 3))
    n_samples = draw(st.integers(1, 25))
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    if ties and draw(st.booleans()):
        # Coarse values: many equal distances, duplicate rows, rows on their centers.
        X = rng.randint(-2, 3, size=(n_samples, n_features)).astype(np.float64)
        centers_old = rng.randint(-2, 3, size=(n_clusters, n_features)).astype(np.float64)
    else:
        X = rng.normal(size=(n_samples, n_features))
        centers_old = rng.normal(size=(n_clusters, n_features))
    # Multiples of 1/4 keep the weight sums exact, as unit weights are: a cluster that
    # gives all its rows away then has weight 0, not a rounding residue.
    low = 1 if positive_weights else 0
    w = rng.randint(low, 9, size=n_samples) / 4.0
    assume(w.sum() > 0)
    # Rows of some clusters only: the others are empty.
    used = rng.choice(n_clusters, size=draw(st.integers(1, n_clusters)), replace=False)
    labels = used[rng.randint(0, used.size, size=n_samples)].astype(np.int32)
    return X, w, labels, centers_old


@given(assignments())
def test_update_centers_matches_the_reference(case):
    X, w, labels, centers_old = case
    got = update_centers(_partial(X, w, labels, centers_old), centers_old)
    np.testing.assert_allclose(got, reference_update(X, w, labels, centers_old),
                               rtol=1e-9, atol=1e-9)


def test_update_centers_does_not_change_its_inputs():
    X = np.array([[0.0], [1.0], [5.0]])
    w = np.ones(3)
    labels = np.array([0, 0, 0], dtype=np.int32)
    centers_old = np.array([[0.0], [9.0]])
    partial = _partial(X, w, labels, centers_old)
    sums, weight = partial.sums.copy(), partial.weight.copy()
    got = update_centers(partial, centers_old)
    # Cluster 1 was empty: it takes the farthest row, 5, which leaves cluster 0.
    np.testing.assert_array_equal(got, [[0.5], [5.0]])
    np.testing.assert_array_equal(partial.sums, sums)
    np.testing.assert_array_equal(partial.weight, weight)
    np.testing.assert_array_equal(centers_old, [[0.0], [9.0]])


def test_no_relocation_when_every_row_is_on_its_center():
    X = np.array([[1.0], [1.0], [2.0]])
    labels = np.array([0, 0, 1], dtype=np.int32)
    centers_old = np.array([[1.0], [2.0], [7.0]])
    got = update_centers(_partial(X, np.ones(3), labels, centers_old), centers_old)
    np.testing.assert_array_equal(got, centers_old)


def test_a_zero_weight_row_moves_its_empty_cluster_there():
    X = np.array([[0.0], [1.0], [4.0]])
    w = np.array([1.0, 1.0, 0.0])
    labels = np.zeros(3, dtype=np.int32)
    centers_old = np.array([[0.0], [-3.0]])
    got = update_centers(_partial(X, w, labels, centers_old), centers_old)
    np.testing.assert_array_equal(got, [[0.5], [4.0]])


@pytest.mark.skipif(_relocate_sklearn is None,
                    reason="scikit-learn's _relocate_empty_clusters_dense is gone")
@given(assignments(positive_weights=True, ties=False))
def test_relocation_as_scikit_learn(case):
    """Where the two agree by design: positive weights, distinct distances, and every
    cluster holding weight afterwards (scikit-learn moves a cluster that stays or becomes
    empty to the largest one's center, chunkml keeps its old center). scikit-learn does
    not order the rows it takes, so the relocated centers are compared as a set."""
    X, w, labels, centers_old = case
    # scikit-learn's fits have n_samples >= n_clusters (its relocation needs that).
    assume(X.shape[0] >= centers_old.shape[0])
    sums, weight, dist = _assignment(X, w, labels, centers_old)
    assume(np.unique(dist).size == dist.size)
    sk_sums, sk_weight = sums.copy(), weight.copy()
    _relocate_sklearn(X, w, centers_old, sk_sums, sk_weight, labels)
    assume(np.all(sk_weight > 0))
    want = sk_sums / sk_weight[:, None]
    got = update_centers(_partial(X, w, labels, centers_old), centers_old)
    empty = weight == 0
    np.testing.assert_allclose(got[~empty], want[~empty], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(_row_set(got[empty]), _row_set(want[empty]), rtol=1e-9,
                               atol=1e-9)


def _row_set(a):
    """The rows of `a` in lexicographic order."""
    return a[np.lexsort(a.T[::-1])]


def test_relocation_from_a_real_pass_over_blocks():
    """The far rows of block partials, merged: a center far from every row is empty and
    takes the farthest row, as the reference on the rows' nearest-center labels."""
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(0, 1, (30, 2)), rng.normal(8, 1, (30, 2))])
    centers_old = np.array([[0.0, 0.0], [8.0, 8.0], [100.0, 100.0], [-50.0, 0.0]])
    shift, scale = np.zeros(2), 1.0
    parts = [lloyd_block(X[a:a + 7], None, a, shift, scale, centers_old, 4, False)
             for a in range(0, 60, 7)]
    got = update_centers(merge_lloyd(parts), centers_old)
    labels = ((X[:, None, :] - centers_old[None]) ** 2).sum(axis=2).argmin(axis=1)
    want = reference_update(X, np.ones(60), labels.astype(np.int32), centers_old)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert not np.allclose(got[2:], centers_old[2:])
