"""What a fresh process pays before its first chunkml fit, printed as one line of JSON.

    python [-X importtime] benchmarks/first_fit.py [--n-samples N] [--threads T]

Times, with ``time.perf_counter`` in this process: ``import chunkml`` with its estimators
(``chunkml.KMeans``; scikit-learn, dask, numba come with it), the first fit of the seed
workload's KMeans on a small persisted dask array (numba loads every kernel from its
on-disk cache or, with an empty ``NUMBA_CACHE_DIR``, compiles it), and a second,
identical fit. Prints ``{"import_s", "first_fit_s", "second_fit_s"}`` on stdout, and
IMPORTED_MARK on stderr when the import is done. bench_first_fit.py runs it in fresh
processes, with ``-X importtime`` to tell chunkml's own modules from its dependencies.
"""

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
IMPORTED_MARK = "first_fit: chunkml imported"


def _import_chunkml():
    try:
        import chunkml
    except ImportError:  # a checkout that is not installed
        sys.path.insert(0, str(HERE.parent))
        import chunkml
    return chunkml.KMeans


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    _import_chunkml()
    imported = time.perf_counter()
    # Ends the import phase in -X importtime's report (on stderr too).
    print(IMPORTED_MARK, file=sys.stderr, flush=True)

    sys.path.insert(0, str(HERE))
    from _impls import make_estimator, threaded_scheduler
    from _workloads import SPECS, make_data

    spec = SPECS["seed"]
    times = {"import_s": imported - START}
    with threaded_scheduler(args.threads):
        X = make_data(spec, args.n_samples, max(1, args.n_samples // 10)).persist()
        for key in ("first_fit_s", "second_fit_s"):
            start = time.perf_counter()
            make_estimator("chunkml", spec).fit(X)
            times[key] = time.perf_counter() - start
    print(json.dumps(times))


if __name__ == "__main__":
    main()
