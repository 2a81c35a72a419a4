"""Progress of a fit, reported by its driver loop: one event per pass over X.

The driver loops (init.py, lloyd.py, minibatch.py) run in the calling process, whatever
the scheduler (threads, a distributed Client), so they report what dask's per-task
callbacks cannot: which step of the fit a pass is, and the inertia and center shift it
found. Each event goes to the subscribers active in the calling context (a contextvar,
so threads and asyncio tasks do not see each other's); with none, reporting is one
lookup.

    events = []
    with chunkml.on_progress(events.append):   # any callable taking a ProgressEvent
        km.fit(X)

    with chunkml.progress():                   # a text bar on stderr
        km.fit(X)

A fit is one run (``n_init`` runs: one after the other), each a "start" event, "step"
events (phase "init": the passes that choose the initial centers; "lloyd": Lloyd
iterations; "minibatch": passes of mini-batch steps over X) and an "end" event.
"""

import contextlib
import contextvars
import math
import sys
import time
from dataclasses import dataclass

__all__ = ["ProgressEvent", "TextBar", "on_progress", "progress"]

_SUBSCRIBERS = contextvars.ContextVar("chunkml_progress_subscribers", default=())


@dataclass(frozen=True)
class ProgressEvent:
    """One event of a fit's progress.

    Attributes
    ----------
    kind : {"start", "step", "end"}
        "start": a run begins; "step": a pass over X (or in memory) is done; "end": the
        run is done and `inertia` is its final inertia (the estimator's ``inertia_``
        when this run is the best one).
    estimator : {"KMeans", "MiniBatchKMeans"}
    phase : str
        For steps: "init", "lloyd" or "minibatch". For "start", the first phase; for
        "end", the last one.
    step : int
        1-based number of the step within its phase; for "end", the steps of the last
        phase (``n_iter_``).
    total : int or None
        Steps of the phase known so far (the k-means|| rounds, which may grow by extra
        rounds) or at most (``max_iter`` Lloyd iterations or passes); None if unknown.
    inertia : float or None
        Weighted sum of squared distances, in X's units: for a Lloyd step, that of the
        centers the step started from; for a mini-batch pass, the estimate from the
        smoothed batch inertia; None where the step measures none.
    shift : float or None
        Summed squared center shift of the step, in X's units (scikit-learn's
        convergence criterion compares it with the variance-scaled ``tol``).
    tol : float or None
        The shift at or below which the phase has converged, in X's units (Lloyd:
        ``tol`` scaled by the mean variance of X); None where no shift bound applies.
    init : str or None
        The init method ("k-means||", "k-means++", "random", "array", "callable").
    detail : str
        What the step did, in words ("round 3", "candidate weights", "converged").
    """

    kind: str
    estimator: str
    phase: str
    step: int = 0
    total: int | None = None
    inertia: float | None = None
    shift: float | None = None
    tol: float | None = None
    init: str | None = None
    detail: str = ""


def active():
    """Whether any subscriber would receive an event (callers skip the work otherwise)."""
    return bool(_SUBSCRIBERS.get())


def _float(value):
    return None if value is None else float(value)


def report(kind, estimator, phase, step=0, total=None, inertia=None, shift=None,
           tol=None, init=None, detail=""):
    """Send one event to the subscribers of the calling context; no-op without any."""
    subscribers = _SUBSCRIBERS.get()
    if not subscribers:
        return
    event = ProgressEvent(kind, estimator, phase, step, total, _float(inertia),
                          _float(shift), _float(tol), init, detail)
    for callback in subscribers:
        callback(event)


@contextlib.contextmanager
def on_progress(callback):
    """Send the progress events of the fits run inside the block to ``callback``.

    Parameters
    ----------
    callback : callable
        Called with each ``ProgressEvent``, in the thread that runs the fit, between
        passes over X: it should return quickly. Blocks nest: every active callback
        receives every event.
    """
    if not callable(callback):
        raise TypeError(f"callback must be callable; got {type(callback).__name__}.")
    token = _SUBSCRIBERS.set(_SUBSCRIBERS.get() + (callback,))
    try:
        yield callback
    finally:
        _SUBSCRIBERS.reset(token)


def _number(value):
    return "?" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _plural(n, word, words):
    return f"{n} {word if n == 1 else words}"


def _expected_steps(step, total, shifts, tol):
    """Steps a converging phase is expected to take: where the shift, decreasing
    geometrically at its latest rate, reaches tol; `total` (the most) otherwise."""
    if tol is None or len(shifts) < 2 or not shifts[-2] > shifts[-1] > tol > 0:
        return total
    rate = shifts[-1] / shifts[-2]
    expected = step + math.ceil(math.log(tol / shifts[-1]) / math.log(rate))
    return expected if total is None else min(total, expected)


class TextBar:
    """A one-line text progress bar for each run of a fit, fed ``ProgressEvent`` objects.

    On a terminal (``file.isatty()``) the line is redrawn in place (``\\r``) at most
    every `min_interval` seconds and ends with a summary; elsewhere (a log file, a
    pipe) it writes one line per step at most every `log_interval` seconds, and the
    summary.

    Parameters
    ----------
    file : file-like, default=sys.stderr (when the bar is first written)
    width : int, default=24
        Characters of the bar itself.
    """

    def __init__(self, file=None, width=24, min_interval=0.1, log_interval=10.0):
        self.file = file
        self.width = width
        self.min_interval = min_interval
        self.log_interval = log_interval
        self._last_write = -math.inf
        self._drawn = 0
        self._phases = {}
        self._shifts = []
        self._filled = 0

    def _stream(self):
        return sys.stderr if self.file is None else self.file

    def _tty(self):
        isatty = getattr(self._stream(), "isatty", None)
        try:
            return bool(isatty and isatty())
        except ValueError:  # a closed stream
            return False

    def __call__(self, event):
        if event.kind == "start":
            self._phases = {}
            self._init = event.init
            self._estimator = event.estimator
            self._inertia = self._shift = None
            self._filled = 0
            return
        if event.kind == "step":
            if event.phase in self._phases and event.step < self._phases[event.phase][0]:
                # Lloyd starting again (initial centers far from X): count it afresh.
                self._phases.pop(event.phase)
            if event.phase not in self._phases:
                self._shifts = []
            if event.shift is not None:
                self._shifts.append(event.shift)
            expected = _expected_steps(event.step, event.total, self._shifts, event.tol)
            self._phases[event.phase] = (event.step, event.total, expected)
            if event.inertia is not None:
                self._inertia = event.inertia
            if event.shift is not None:
                self._shift = event.shift
            self._show(self._line(), final=False)
            return
        self._show(self._summary(event), final=True)

    def _fraction(self):
        """Steps done over steps expected. The optimisation after the init is expected
        to take as long as the init until its shifts give a rate of convergence."""
        done = expected = 0
        for step, _, steps in self._phases.values():
            done += step
            expected += max(step, steps or step)
        if len(self._phases) == 1 and "init" in self._phases:
            expected *= 2
        return done / expected if expected else 0.0

    def _line(self):
        # The bar never moves back when an estimate grows.
        self._filled = max(self._filled, int(self._fraction() * self.width))
        filled = min(self._filled, self.width)
        parts = [f"{self._estimator} [{'#' * filled}{'.' * (self.width - filled)}]"]
        for phase, (step, total, _) in self._phases.items():
            name = f"init {self._init}" if phase == "init" else phase
            parts.append(f"{name} {step}/{'?' if total is None else total}")
        if self._inertia is not None:
            parts.append(f"inertia {_number(self._inertia)}")
        if self._shift is not None:
            parts.append(f"shift {_number(self._shift)}")
        return "  ".join(parts)

    def _summary(self, event):
        parts = [f"{event.estimator} [{'#' * self.width}]"]
        if "init" in self._phases:
            n_passes = _plural(self._phases["init"][0], "pass", "passes")
            parts.append(f"init {self._init}: {n_passes}")
        if event.phase == "lloyd":
            parts.append(f"Lloyd: {_plural(event.step, 'iteration', 'iterations')}")
        elif event.phase == "minibatch":
            parts.append(
                f"mini-batch: {_plural(event.step, 'iteration', 'iterations')} over X")
        if event.detail:
            parts.append(event.detail)
        parts.append(f"inertia {_number(event.inertia)}")
        return "  ".join(parts)

    def close(self):
        """End a line left unfinished on a terminal (a fit that raised mid-way)."""
        if self._drawn:
            self._stream().write("\n")
            self._stream().flush()
            self._drawn = 0

    def _show(self, line, final):
        now = time.monotonic()
        tty = self._tty()
        interval = self.min_interval if tty else self.log_interval
        if not final and now - self._last_write < interval:
            return
        self._last_write = -math.inf if final else now
        stream = self._stream()
        if tty:
            # Pad over the longer line drawn before.
            stream.write("\r" + line.ljust(self._drawn) + ("\n" if final else ""))
            self._drawn = 0 if final else len(line)
        else:
            stream.write(line + "\n")
        stream.flush()


@contextlib.contextmanager
def progress(file=None):
    """Show a text progress bar for each fit run inside the ``with`` block.

    One line per run of ``KMeans.fit`` or ``MiniBatchKMeans.fit`` (``n_init`` runs:
    one line each): the passes that choose the initial centers and the Lloyd
    iterations (or mini-batch passes over X) as the steps of one bar, with the current
    inertia and center shift. On a terminal the line is redrawn in place; in a file or
    pipe it is written every few seconds, one line per step. The last line of a run
    names its passes, its iterations (``n_iter_``) and its final inertia. The bar is
    driven by the fit's own loop, which runs in the calling process, so it works
    under every dask scheduler (the threaded one, a distributed ``Client``).

    Parameters
    ----------
    file : file-like, default=sys.stderr

    Examples
    --------
    >>> import chunkml
    >>> X, _ = chunkml.datasets.make_blobs(n_samples=1000, centers=3, chunks=250,
    ...                                    random_state=0)
    >>> with chunkml.progress():                             # doctest: +SKIP
    ...     chunkml.KMeans(n_clusters=3, random_state=0).fit(X)
    KMeans [########################]  init k-means||: 4 passes  Lloyd: 2 iterations ...
    """
    bar = TextBar(file)
    try:
        with on_progress(bar):
            yield bar
    finally:
        bar.close()
