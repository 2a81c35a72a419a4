"""Initial centers: k-means|| (default), k-means++ and random, on any rows (passes.py).

`first_pass` draws the rows an init starts from, measures X (the statistics that choose
the frame, see _frame.py, and scale tol) and checks it for NaN/inf, so that Lloyd needs
no pass of its own for them. Each driver takes that pass and the rows with their frame
set, and returns the centers in the frame's units.
"""

import logging

import numpy as np

from . import progress
from .kmeanspp import kmeans_plusplus
from .lloyd import check_first_pass

logger = logging.getLogger("chunkml")

# Spark MLlib's default since 2.1 (SPARK-17389, apache/spark#14956: 2 rounds instead of
# 5, for speed). Measured here, final inertia against scikit-learn's k-means++ fit:
# 200k x 128 float32 blobs, k=1024 (one seed): 2 rounds -0.02%, 5 rounds +0.01%;
# 50k x 128, k=256 (medians of 3 seeds): both -0.00%. The init took 11-20 Lloyd
# iterations' time with 5 rounds there, 5-7 with 2 (BENCHMARKS.md, "Embeddings"). The
# count does not depend on the scale of the data (dask-ml's log(cost) does).
DEFAULT_INIT_ROUNDS = 2
# Extra rounds allowed when fewer than n_clusters candidates were drawn.
_MAX_EXTRA_ROUNDS = 100


def first_draws(rows, init, n_clusters):
    """Rows pass 0 draws for each init: the n_clusters centers, the first candidate, or
    none for k-means++ in memory (greedy: it draws its own, see `Passes.in_memory`)."""
    if init == "random":
        return n_clusters
    return 0 if init == "k-means++" and rows.in_memory else 1


def init_passes(rows, init, n_clusters, n_rounds):
    """Passes over X the init makes, pass 0 included: k-means||'s rounds and its
    candidates' weights, k-means++'s D^2 draws when not in memory."""
    if init == "k-means||":
        return n_rounds + 2
    if init == "k-means++" and not rows.in_memory:
        return n_clusters
    return 1


def first_pass(rows, seed, n_top, n_clusters):
    """Pass 0: weighted sample of n_top rows, statistics of X, and the checks of the
    input. Sets the rows' frame from the statistics; the sampled rows (part.X) are
    returned in that frame."""
    part = rows.sample(seed, 0, n_top)
    check_first_pass(n_clusters, part.n_samples, part.stats.moments, part.min_weight,
                     part.total)
    rows.frame = part.stats.frame()
    part.X = rows.frame.apply(part.X)
    return part


def pad_centers(centers, n_clusters, rng):
    """Repeat drawn rows when X has fewer distinct (or positive-weight) rows than clusters."""
    if centers.shape[0] >= n_clusters:
        return centers[:n_clusters]
    extra = rng.choice(centers.shape[0], n_clusters - centers.shape[0])
    return np.concatenate([centers, centers[extra]])


def random_init(rows, part, n_clusters, seed, rng):
    """n_clusters rows drawn with probability proportional to weight, without replacement."""
    return pad_centers(part.X, n_clusters, rng)


def kmeanspp_init(rows, part, n_clusters, seed, rng):
    """k-means++: greedy in memory (as scikit-learn); D^2 sampling in k passes on dask."""
    return rows.kmeanspp(part, n_clusters, seed=seed, rng=rng)


def kmeans_parallel_init(rows, part, n_clusters, seed, rng, *, oversampling_factor,
                         n_rounds):
    """k-means|| (Bahmani et al. 2012), as in Spark MLlib.

    Pass 0 draws the first candidate (proportional to weight); each of the `n_rounds`
    rounds updates every row's distance to the candidates against the new ones and draws
    each row independently with probability min(1, l * w * d^2 / phi), l =
    oversampling_factor * n_clusters; a last pass weights each candidate by the weight of
    the rows nearest to it. Greedy k-means++ on the weighted candidates, in memory,
    picks the n_clusters centers among them. At most n_rounds + 2 passes over X (more
    only when fewer than n_clusters candidates were drawn, or in the rare case that one
    block draws more than 2 l + 32 rows in a round).

    No Lloyd on the candidates (Spark MLlib and dask-ml run one): at many clusters it
    settles the centers into a minimum of the few candidates per cluster that Lloyd on X
    then cannot leave. 200k x 128 float32 blobs, k=1024: final inertia +1.3% over
    scikit-learn's k-means++ with it, +0.01% without (BENCHMARKS.md, "Embeddings").
    """
    candidates = [part.X[:1]]
    # `new` holds the candidates that the state (each row's distance to and id of its
    # nearest candidate) does not include yet; their ids start at `first_id`.
    new = part.X[:1]
    first_id = 0
    n_candidates = 1
    expected = oversampling_factor * n_clusters
    n_top = int(np.ceil(2 * expected)) + 32
    state = None
    n_passes = 1
    for stream in range(1, n_rounds + _MAX_EXTRA_ROUNDS + 1):
        if stream > n_rounds and n_candidates >= n_clusters:
            break
        new_state, part = rows.mindist_round(state, new, first_id, seed, stream, n_top,
                                             False)
        threshold = part.total / expected
        # A full heap whose smallest key passes the threshold may have dropped drawn rows.
        while part.key.size == n_top and part.key[-1] > threshold:
            n_top *= 4
            new_state, part = rows.mindist_round(state, new, first_id, seed, stream, n_top,
                                                 False)
        state, first_id = new_state, first_id + new.shape[0]
        new = rows.frame.apply(part.X[part.key > threshold])
        n_passes += 1
        # Steps: pass 0, the rounds so far (n_rounds at least), the candidates' weights.
        progress.report("step", "KMeans", "init", n_passes, max(n_rounds, stream) + 2,
                        init="k-means||", detail=f"round {stream}")
        if part.total <= 0:
            break
        candidates.append(new)
        n_candidates += new.shape[0]
        logger.debug("k-means|| round %d: cost %.9g, %d new candidates", stream, part.total,
                     new.shape[0])
    candidates = np.concatenate(candidates)
    if candidates.shape[0] <= n_clusters:
        return pad_centers(candidates, n_clusters, rng)
    weight = rows.candidate_weights(state, new, first_id, candidates.shape[0])
    progress.report("step", "KMeans", "init", n_passes + 1, n_passes + 1,
                    init="k-means||", detail="candidate weights")
    # The candidates are in the frame already: the recluster runs in its units.
    centers, _ = kmeans_plusplus(candidates, n_clusters, weight, rng)
    return centers
