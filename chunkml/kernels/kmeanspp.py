"""Greedy k-means++ on in-memory rows, with the triangle inequality (Raff 2021).

scikit-learn's greedy k-means++ compares every row with each of a step's trial
centers: k * n_trials * n distances, quadratic where the rows are k-means|| candidates
(about 2 k per round). Here each row belongs to its nearest chosen center, and the
chosen centers' rows are linked lists (`head`, `nxt`, `prv`) with `radius`, an upper
bound on their squared distances to it. A trial t cannot come nearer to row x of center
c than c is when ||t - c||^2 >= 4 ||x - c||^2 (||x - t|| >= ||t - c|| - ||x - c||), so a
step skips every center with ||t - c||^2 >= 4 radius and, within the others, every row
with ||t - c||^2 >= 4 closest: the same choices as the full comparison, with exact
distances (differences, not the ||x||^2 - 2 x.c + ||c||^2 expansion).

The caller draws the trials (`dask_glue/kmeanspp.py`, in scikit-learn's order);
`KmeansppState` holds the arrays, and a step is `gains` (each trial's reduction of the
weighted potential) then `add` (the best trial becomes a center). Rows are read in the
frame (shift, scale) as every kernel reads them (_rowwise.py); centers are in that frame.
"""

import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH, helper
from ._dispatch import read_only
from ._rowwise import load_rows, squared_distance


@helper()
def _center_distance(centers, j, point):
    dist = 0.0
    for f in range(point.shape[0]):
        diff = centers[j, f] - point[f]
        dist += diff * diff
    return dist


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _start(X, shift, scale, first, centers, closest, head, nxt, prv, radius):
    """Row `first` of X becomes center 0, nearest to every row.

    Parameters
    ----------
    X : (n, d) float32|float64, IN.
    shift : (d,) float64, scale : float
        The frame rows are read in.
    first : int
        Row of X that is the first center.
    centers : (k, d) float64, OUT: row 0 set.
    closest : (n,) float64, OUT: squared distance of each row to its nearest center.
    head : (k,) int64, OUT: first row of each center's list (-1: empty); a row's list is
        its nearest center (the first chosen on ties).
    nxt, prv : (n,) int64, OUT: the next and previous row in the list (-1: none).
    radius : (k,) float64, OUT: radius[0], the largest of closest.
    """
    n = X.shape[0]
    load_rows(X, first, first + 1, shift, scale, centers)
    head[:] = -1
    biggest = 0.0
    for i in range(n):
        closest[i] = squared_distance(X, i, shift, scale, centers, 0)
        nxt[i] = i + 1 if i + 1 < n else -1
        prv[i] = i - 1
        biggest = max(biggest, closest[i])
    head[0] = 0 if n else -1
    radius[0] = biggest


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _gains(X, shift, scale, sample_weight, trials, n_centers, centers, closest, head, nxt,
           radius, out_trials, out_gain):
    """How much each trial center would lower the weighted potential sum(w * closest).

    Parameters
    ----------
    X, shift, scale : as `_start`.
    sample_weight : (n,) float64, IN.
    trials : (t,) int64, IN: rows of X tried as the next center.
    n_centers : int
        Centers chosen so far (rows 0..n_centers-1 of centers, lists and radius).
    centers, closest, head, nxt, radius : IN, the state `_add` keeps.
    out_trials : (t, d) float64, OUT: the trials' rows in the frame.
    out_gain : (t,) float64, OUT: sum over rows of w * max(0, closest - ||x - trial||^2).
    """
    n_trials = trials.shape[0]
    for q in range(n_trials):
        load_rows(X, trials[q], trials[q] + 1, shift, scale, out_trials[q:])
        out_gain[q] = 0.0
    bound = np.empty(n_trials)
    for j in range(n_centers):
        near = False
        for q in range(n_trials):
            bound[q] = _center_distance(centers, j, out_trials[q])
            near = near or bound[q] < 4.0 * radius[j]
        if not near:
            continue
        i = head[j]
        while i >= 0:
            c = closest[i]
            for q in range(n_trials):
                if bound[q] < 4.0 * c:
                    dist = squared_distance(X, i, shift, scale, out_trials, q)
                    if dist < c:
                        out_gain[q] += sample_weight[i] * (c - dist)
            i = nxt[i]


@njit(nogil=True, cache=CACHE, fastmath=FASTMATH)
def _add(X, shift, scale, row, n_centers, centers, closest, head, nxt, prv, radius):
    """Row `row` of X becomes center n_centers: the rows now nearest to it move to its
    list, and the radius of every list it took rows from is measured again.

    Parameters are those of `_start`, IN/OUT, for the centers 0..n_centers-1
    chosen so far.
    """
    load_rows(X, row, row + 1, shift, scale, centers[n_centers:])
    head[n_centers] = -1
    new_radius = 0.0
    for j in range(n_centers):
        bound = _center_distance(centers, j, centers[n_centers])
        if bound >= 4.0 * radius[j]:
            continue
        biggest = 0.0
        i = head[j]
        while i >= 0:
            following = nxt[i]
            c = closest[i]
            dist = (squared_distance(X, i, shift, scale, centers, n_centers)
                    if bound < 4.0 * c else c)
            if dist < c:
                closest[i] = dist
                # Unlink from j, push onto the new center's list.
                if prv[i] >= 0:
                    nxt[prv[i]] = following
                else:
                    head[j] = following
                if following >= 0:
                    prv[following] = prv[i]
                prv[i] = -1
                nxt[i] = head[n_centers]
                if head[n_centers] >= 0:
                    prv[head[n_centers]] = i
                head[n_centers] = i
                new_radius = max(new_radius, dist)
            else:
                biggest = max(biggest, c)
            i = following
        radius[j] = biggest
    radius[n_centers] = new_radius


class KmeansppState:
    """The chosen centers of a greedy k-means++ on the rows X (in the frame), and each
    row's distance to its nearest one, whose list (`head`, `nxt`, `prv`) holds it;
    `start`, then `gains` and `add` for each further center.

    X (n, d) float32|float64 and sample_weight (n,) float64 are read only (through
    read-only views: one compiled signature whatever the caller's flags).
    """

    def __init__(self, X, shift, scale, sample_weight, n_clusters):
        n, d = X.shape
        self.args = (read_only(X), read_only(np.ascontiguousarray(shift, np.float64)),
                     float(scale))
        self.sample_weight = read_only(np.ascontiguousarray(sample_weight, np.float64))
        self.centers = np.zeros((n_clusters, d))
        self.closest = np.empty(n)
        self.head = np.empty(n_clusters, dtype=np.int64)
        self.nxt = np.empty(n, dtype=np.int64)
        self.prv = np.empty(n, dtype=np.int64)
        self.radius = np.zeros(n_clusters)
        self.n_centers = 0

    def start(self, row):
        """Row `row` of X is the first center."""
        _start(*self.args, row, self.centers, self.closest, self.head, self.nxt,
               self.prv, self.radius)
        self.n_centers = 1

    def gains(self, trials):
        """(t,) float64: how much each row of X in `trials` ((t,) int64) as the next
        center would lower sum(w * closest)."""
        trials = read_only(np.ascontiguousarray(trials, dtype=np.int64))
        gain = np.empty(trials.shape[0])
        _gains(*self.args, self.sample_weight, trials, self.n_centers, self.centers,
               self.closest, self.head, self.nxt, self.radius,
               np.empty((trials.shape[0], self.centers.shape[1])), gain)
        return gain

    def add(self, row):
        """Row `row` of X is the next center."""
        _add(*self.args, row, self.n_centers, self.centers, self.closest, self.head,
             self.nxt, self.prv, self.radius)
        self.n_centers += 1
