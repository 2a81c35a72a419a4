"""``chunkml warm-up``: compile chunkml's kernels, or load them from numba's cache.

In this process, and with --scheduler (or dask's scheduler-address config) on every
worker of that cluster, so that no fit waits for numba: run it while building a
container image (numba's on-disk cache then ships in the image) or once workers are up.
Each process runs :func:`chunkml.kernels.warm_up` and reports the seconds it took and
the kernel variants numba compiled meanwhile (none: all came from numba's on-disk cache,
or were loaded already).
"""

import argparse
import os
import socket
import time

from .. import __version__
from . import _args, _report, _session
from ._errors import CommandError, one_line

DTYPES = ("float64", "float32")
THIS_PROCESS = "this process"


def dtype_list(text):
    names = [name.strip() for name in text.split(",")]
    if not all(name in DTYPES for name in names):
        raise argparse.ArgumentTypeError(
            f"expected {', '.join(DTYPES)} or both, comma-separated, got {text!r}")
    return tuple(dict.fromkeys(names))


def n_features_list(text):
    return tuple(sorted({_args.positive_int(part.strip()) for part in text.split(",")}))


def add_parser(commands):
    parser = commands.add_parser(
        "warm-up", help="compile chunkml's kernels here and on a cluster's workers",
        parents=[_args.scheduler_options("", otherwise="this process only"),
                 _args.report_options()],
        description=(
            "Compile chunkml's numba kernels, or load them from numba's on-disk cache, in "
            "this process and, with --scheduler (or dask's scheduler-address config, "
            "e.g. DASK_SCHEDULER_ADDRESS), on every worker of that cluster, so that no "
            "fit waits for numba. Run it while building a container image (numba writes "
            "its cache next to the installed package, or into NUMBA_CACHE_DIR) or once "
            "the workers are up. Prints, for each process, the seconds it took and how "
            "many kernel variants numba compiled (0: all came from its cache)."))
    parser.add_argument("--dtype", type=dtype_list, default=DTYPES,
                        metavar="DTYPE[,DTYPE]",
                        help="the float dtypes of X to compile for (default: "
                             "float64,float32); e.g. float32 for workers that only fit "
                             "float32 data (integer input is fitted as float64)")
    parser.add_argument("--n-features", type=n_features_list, default=None,
                        metavar="D[,D...]",
                        help="compile only for dense X with these numbers of features, "
                             "e.g. 2 or 2,50 (default: every number of features, and the "
                             "kernels of sparse X)")
    parser.set_defaults(run=run, parser=parser)
    return parser


def run(args):
    say = _session.lines(args)
    address = _session.scheduler_address(args.scheduler)
    what = _describe(args.dtype, args.n_features)
    with _session.warnings_as_lines():
        if address is None:
            processes = [_warm_up_here(args, what, say)]
        else:
            with _session.dask_client(address, say) as client:
                processes = [_warm_up_here(args, what, say)]
                processes += _warm_up_workers(client, args, what, say)
    say()
    summary = {
        "chunkml_version": __version__,
        "dtypes": list(args.dtype),
        "n_features": None if args.n_features is None else list(args.n_features),
        "scheduler": address,
        "processes": processes,
    }
    _report.emit(args, summary, _format_table(processes))
    return 0


def _describe(dtypes, n_features):
    if n_features is None:
        widths = "every number of features"
    else:
        numbers = [f"{d:,}" for d in n_features]
        widths = " and ".join(filter(None, [", ".join(numbers[:-1]), numbers[-1]]))
        widths += " feature" if n_features == (1,) else " features"
    return f"{' and '.join(dtypes)} X, {widths}"


def _warm_up_here(args, what, say):
    say(f"warming up chunkml's kernels in this process ({what}) ...")
    try:
        result = _warm_up_process(args.dtype, args.n_features)
    except Exception as exc:
        raise CommandError(
            f"cannot warm up chunkml's kernels in this process: {one_line(exc)}") from None
    say(f"  {_what_it_did(result)}")
    return {"process": THIS_PROCESS, **result}


def _warm_up_workers(client, args, what, say):
    say(f"warming up chunkml's kernels on every worker ({what}) ...")
    try:
        results = client.run(_warm_up_worker, args.dtype, args.n_features,
                             on_error="return")
    except Exception as exc:
        raise CommandError(
            f"cannot warm up chunkml's kernels on the workers: {one_line(exc)}") from None
    if not results:
        say("  no worker is connected to the scheduler")
    processes, failed = [], []
    for worker, result in sorted(results.items()):
        if isinstance(result, BaseException):
            failed.append((worker, result))
            continue
        say(f"  {worker}: {_what_it_did(result)}")
        processes.append({"process": worker, **result})
    if failed:
        worker, exc = failed[0]
        raise CommandError(
            f"cannot warm up chunkml's kernels on {_report.plural(len(failed), 'worker')} "
            f"of {len(results)}: {worker}: {one_line(exc)}")
    return processes


def _what_it_did(result):
    n_compiled = len(result["compiled"])
    if n_compiled:
        return (f"numba compiled {_report.plural(n_compiled, 'kernel variant')} in "
                f"{result['seconds']:.2f} s")
    return (f"loaded in {result['seconds']:.2f} s (nothing to compile: numba's cache, or "
            "already loaded)")


def _format_table(processes):
    rows = [("process", "compiled", "seconds")]
    rows += [(f"{p['process']} ({p['host']}, pid {p['pid']})", f"{len(p['compiled']):,}",
              f"{p['seconds']:.2f}") for p in processes]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}"
             for row in rows]
    lines.append("")
    lines.append("compiled: kernel variants numba compiled (0: all loaded from its "
                 "on-disk cache, or already loaded)")
    return "\n".join(lines)


def _warm_up_process(dtypes=DTYPES, n_features=None):
    """Run ``chunkml.kernels.warm_up`` in this process, for X of ``dtypes`` (names) and,
    unless None, only ``n_features`` (its ``widths``).

    Returns
    -------
    dict
        ``host``, ``pid``, ``seconds`` and ``compiled``: the chunkml functions numba
        compiled meanwhile, one ``module.name(argument types)`` string per variant.
    """
    import numpy as np
    from numba.core import event

    from .. import kernels

    kwargs = {"dtypes": tuple(np.dtype(name).type for name in dtypes)}
    if n_features is not None:
        kwargs.update(widths=tuple(n_features), sparse=False)
    start = time.perf_counter()
    # numba announces each compilation (not a load from its cache) with this event.
    with event.install_recorder("numba:compile") as recorder:
        kernels.warm_up(**kwargs)
    seconds = time.perf_counter() - start
    compiled = []
    for _, ev in recorder.buffer:
        func = ev.data["dispatcher"].py_func if ev.is_start else None
        if func is not None and func.__module__.startswith("chunkml."):
            compiled.append(f"{func.__module__}.{func.__qualname__}"
                            f"({', '.join(map(str, ev.data['args']))})")
    return {"host": socket.gethostname(), "pid": os.getpid(), "seconds": seconds,
            "compiled": compiled}


async def _warm_up_worker(dtypes, n_features):
    import asyncio

    # Off the worker's event loop, which must keep answering the scheduler meanwhile:
    # compiling takes minutes.
    return await asyncio.get_running_loop().run_in_executor(
        None, _warm_up_process, dtypes, n_features)
