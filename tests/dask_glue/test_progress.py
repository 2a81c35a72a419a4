"""Fit-level progress (dask_glue/progress.py) and the names of chunkml's tasks."""

import contextlib
import io
import re

import dask
import dask.array as da
import numpy as np
import pytest
from dask.utils import key_split
from distributed import Client, get_task_stream

import chunkml
from chunkml.dask_glue import progress
from tests import _reference as ref

N_ROUNDS = 3


def _data(n_samples=2_000, chunks=450):
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 1.0], [0.0, 9.0, -2.0],
                        [7.0, 7.0, 7.0]])
    Xn = centers[rng.integers(0, 4, n_samples)] + rng.normal(size=(n_samples, 3))
    return Xn, da.from_array(Xn, chunks=(chunks, 3))


@pytest.fixture(scope="module")
def client():
    with Client(processes=False, n_workers=1, threads_per_worker=2,
                dashboard_address=None, set_as_default=False) as client:
        yield client


@contextlib.contextmanager
def _using(client):
    with dask.config.set(scheduler="dask.distributed"), client.as_current():
        yield


def _steps(events, phase):
    return [e for e in events if e.kind == "step" and e.phase == phase]


def _check_kmeans_events(events, km, n_init_passes):
    assert [e.kind for e in events[:1] + events[-1:]] == ["start", "end"]
    assert {e.estimator for e in events} == {"KMeans"}
    init, lloyd = _steps(events, "init"), _steps(events, "lloyd")
    assert len(events) == 2 + len(init) + len(lloyd)
    # The init's passes over X, then one step per Lloyd iteration, in order.
    assert [e.step for e in init] == list(range(1, n_init_passes + 1))
    assert [e.step for e in lloyd] == list(range(1, km.n_iter_ + 1))
    assert all(e.total == km.max_iter for e in lloyd)
    assert events.index(lloyd[0]) == 1 + len(init)
    end = events[-1]
    assert end.step == km.n_iter_
    np.testing.assert_allclose(end.inertia, km.inertia_, rtol=1e-7)
    # Converged (n_iter_ < max_iter): the last shift is within tol, the earlier are not.
    assert lloyd[-1].shift <= lloyd[-1].tol < lloyd[0].shift


@pytest.mark.parametrize("scheduler", ["threads", "distributed"])
def test_kmeans_events(scheduler, request):
    """One event per k-means|| pass (pass 0, the rounds, the candidates' weights) and
    per Lloyd iteration, the final inertia that of the fit, under both schedulers."""
    _, X = _data()
    if scheduler == "distributed":
        context = _using(request.getfixturevalue("client"))
    else:
        context = dask.config.set(scheduler="threads")
    events = []
    with context, chunkml.on_progress(events.append):
        km = chunkml.KMeans(n_clusters=4, init_max_iter=N_ROUNDS, random_state=0).fit(X)
    assert 1 < km.n_iter_ < km.max_iter
    _check_kmeans_events(events, km, N_ROUNDS + 2)
    assert {e.init for e in _steps(events, "init")} == {"k-means||"}


def test_lloyd_event_values_match_numpy():
    """A Lloyd step reports, in X's units, the inertia of the centers it started from
    and the squared shift of its update (numpy's, from the same initial centers)."""
    Xn, X = _data()
    # Far from X's origin and scale: the events are in X's units, not the fit's frame.
    Xn, X = Xn * 1e3 + 5e4, X * 1e3 + 5e4
    init = Xn[[0, 1, 2, 3]] + 500.0
    events = []
    with dask.config.set(scheduler="threads"), chunkml.on_progress(events.append):
        km = chunkml.KMeans(n_clusters=4, init=init, random_state=0).fit(X)
    first = _steps(events, "lloyd")[0]
    partial = ref.lloyd_partial(Xn, init)
    new_centers = partial.sums / partial.weight[:, None]
    np.testing.assert_allclose(first.inertia, partial.inertia, rtol=1e-7)
    np.testing.assert_allclose(first.shift, ((new_centers - init) ** 2).sum(), rtol=1e-7)
    # The tol bound: tol times the mean per-feature variance of X (scikit-learn's).
    np.testing.assert_allclose(first.tol, 1e-4 * Xn.var(axis=0).mean(), rtol=1e-7)
    _check_kmeans_events(events, km, 0)


def test_kmeanspp_events_numpy():
    """k-means++ on numpy: its one pass, then the Lloyd iterations."""
    Xn, _ = _data()
    events = []
    with chunkml.on_progress(events.append):
        km = chunkml.KMeans(n_clusters=4, init="k-means++", random_state=0).fit(Xn)
    _check_kmeans_events(events, km, 1)


def test_minibatch_events():
    Xn, X = _data()
    events = []
    with dask.config.set(scheduler="threads"), chunkml.on_progress(events.append):
        mb = chunkml.MiniBatchKMeans(n_clusters=4, batch_size=200, random_state=0,
                                     max_iter=5).fit(X)
    assert [e.kind for e in events[:1] + events[-1:]] == ["start", "end"]
    assert [e.step for e in _steps(events, "init")] == [1]
    passes = _steps(events, "minibatch")
    assert [e.step for e in passes] == list(range(1, mb.n_iter_ + 1))
    assert passes[-1].detail == f"{mb.n_steps_} mini-batch steps"
    assert events[-1].step == mb.n_iter_
    np.testing.assert_allclose(events[-1].inertia, mb.inertia_, rtol=1e-7)
    _, mindist = ref.nearest_centers(Xn, mb.cluster_centers_)
    np.testing.assert_allclose(events[-1].inertia, mindist.sum(), rtol=1e-7)


def test_no_subscriber_and_nesting():
    assert not progress.active()
    outer, inner = [], []
    with chunkml.on_progress(outer.append):
        with chunkml.on_progress(inner.append):
            progress.report("step", "KMeans", "lloyd", 1, 3, inertia=2, shift=1)
        progress.report("end", "KMeans", "lloyd", 1, 3, inertia=2)
    progress.report("end", "KMeans", "lloyd", 1, 3)
    assert [e.kind for e in outer] == ["step", "end"]
    assert inner == outer[:1] and inner[0].inertia == 2.0
    with pytest.raises(TypeError, match="callback"):
        with chunkml.on_progress(None):
            pass


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _fit_with_bar(stream):
    _, X = _data()
    with dask.config.set(scheduler="threads"):
        km = chunkml.KMeans(n_clusters=4, init_max_iter=N_ROUNDS, random_state=0)
        with chunkml.progress(file=stream):
            km.fit(X)
    return km


def test_progress_bar_stderr(capsys):
    """`chunkml.progress()` writes one bar to stderr; its last line names the init's
    passes, n_iter_ Lloyd iterations and the final inertia."""
    _, X = _data()
    with dask.config.set(scheduler="threads"):
        km = chunkml.KMeans(n_clusters=4, init_max_iter=N_ROUNDS, random_state=0)
        with chunkml.progress():
            km.fit(X)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines and all(line.startswith("KMeans [") for line in lines)
    last = lines[-1]
    assert f"init k-means||: {N_ROUNDS + 2} passes" in last
    assert re.search(rf"Lloyd: {km.n_iter_} iterations\b", last)
    inertia = float(re.search(r"inertia (\S+)", last).group(1))
    np.testing.assert_allclose(inertia, km.inertia_, rtol=1e-5)


def test_progress_bar_in_place_on_terminal():
    stream = _Terminal()
    km = _fit_with_bar(stream)
    text = stream.getvalue()
    # One line, redrawn in place, ended once.
    assert text.count("\n") == 1 and text.endswith("\n") and text.startswith("\r")
    frames = text[:-1].split("\r")[1:]
    assert re.search(rf"Lloyd: {km.n_iter_} iterations\b", frames[-1])
    assert all(f.startswith("KMeans [") for f in frames)


def _input_prefixes(X):
    return {key_split(k) for k in dict(X.__dask_graph__())}


def _chunkml_names(stream, X):
    """Names of the recorded tasks, less the input's own (those that only read X)."""
    inputs = _input_prefixes(X)
    names = set()
    for record in stream:
        name = key_split(record["key"])
        if name in inputs or name.startswith("finalize"):
            continue  # reading X; dask's own final concatenation
        for prefix in inputs:
            # A task that reads X fused into chunkml's (dask's blockwise fusion).
            if name.startswith(prefix + "-"):
                name = name[len(prefix) + 1:]
        names.add(name)
    return names


@pytest.mark.parametrize("persisted", [False, True])
def test_task_names(client, persisted):
    """Every task of a fit, predict, transform and score runs under a chunkml- key that
    names its pass (the dashboard groups tasks by dask's key_split)."""
    _, X = _data()
    if persisted:
        with _using(client):
            X = X.persist()
    with _using(client), get_task_stream(client) as ts:
        km = chunkml.KMeans(n_clusters=4, init_max_iter=N_ROUNDS, random_state=0).fit(X)
        km.labels_.compute()
    names = _chunkml_names(ts.data, X)
    assert all(name.startswith("chunkml-") for name in names), names
    for expected in ("chunkml-sample", "chunkml-kmeans-parallel-round",
                     "chunkml-kmeans-parallel-weights", "chunkml-lloyd", "chunkml-labels"):
        assert expected in names
    with _using(client), get_task_stream(client) as ts:
        km.predict(X).compute()
        km.transform(X).compute()
        km.score(X)
    names = _chunkml_names(ts.data, X)
    assert all(name.startswith("chunkml-") for name in names), names
    assert {"chunkml-labels", "chunkml-transform", "chunkml-inertia"} <= names


def test_task_names_kmeanspp_and_minibatch(client):
    _, X = _data()
    with _using(client), get_task_stream(client) as ts:
        chunkml.KMeans(n_clusters=4, init="k-means++", random_state=0).fit(X)
        chunkml.MiniBatchKMeans(n_clusters=4, batch_size=200, random_state=0).fit(X)
    names = _chunkml_names(ts.data, X)
    assert all(name.startswith("chunkml-") for name in names), names
    assert {"chunkml-kmeans-plusplus-round", "chunkml-minibatch", "chunkml-sample",
            "chunkml-lloyd"} <= names


def test_progress_bar_ends_its_line_when_the_fit_fails():
    stream = _Terminal()
    with pytest.raises(RuntimeError), chunkml.progress(file=stream):
        progress.report("start", "KMeans", "init", init="k-means||")
        progress.report("step", "KMeans", "init", 1, 5, init="k-means||")
        raise RuntimeError
    assert stream.getvalue().startswith("\rKMeans [") and stream.getvalue().endswith("\n")
    assert stream.getvalue().count("\n") == 1
