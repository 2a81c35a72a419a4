"""Markdown for BENCHMARKS.md from pytest-benchmark JSON files written by benchmarks/bench_*.py.

    python benchmarks/report.py RUN.json [MORE.json ...] [--out FILE] [--title TEXT]

For each file: the machine (CPU model, cores, RAM), library versions, the command and the
data; a targets table (issue 7's goals, each computed from the run, met or missed and by
how much; and issue 17's, for runs with bench_joblib.py's groups); then per group a table of each result's median time and its ratio to chunkml
(peer time / chunkml time: above 1, chunkml is faster), plus, where the group has them,
the bandwidth and the ratio to the physical floor (one read of X's bytes by a numba
prange flat sum; in runs made before it, dask implementations against ``X.sum()`` and
numpy-based ones against ``np.add.reduce``), the fitted n_iter_ and inertia_, the
centers' distance from an exact float64 pass, ns per row (scaling) and the parts of a
first fit. Runs with bench_cold.py's cold-start group also get issue 13's targets and a
table of numba's compile time per kernel.
"""

import argparse
import json
import operator
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

IMPL_ORDER = ["chunkml", "chunkml_numpy", "chunkml_sample", "sklearn", "sklearnex", "faiss",
              "dask_ml", "dask", "loky",
              "floor_flat", "floor_dask", "floor_numpy"]
# dask and loky: the joblib backends that bench_joblib.py times against chunkml's.
PEERS = ["sklearn", "sklearnex", "faiss", "dask_ml", "dask", "loky"]
# The physical floor, "floor_flat" (one read of X's bytes by a numba prange flat sum), for
# every implementation; runs recorded before it existed: these one-read floors instead.
FLOOR_FOR = {"chunkml": "floor_dask", "dask_ml": "floor_dask", "sklearn": "floor_numpy",
             "sklearnex": "floor_numpy", "faiss": "floor_numpy"}


def _live_environment():
    """Machine and versions of this process, for JSON files written without conftest's."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from conftest import environment
    except Exception:  # conftest needs chunkml, dask, numba: report what we can
        return {"cpu_model": platform.processor(), "cpu_count": os.cpu_count(),
                "ram_gib": None, "versions": {"python": platform.python_version()}}
    return environment()


def _fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def _fmt_ratio(ratio):
    return "" if ratio is None else f"{ratio:.2f}x"


def _fmt_float(value):
    return f"{value:.7g}"


# Columns from extra_info: (key, header, format). A group's table has a column when one
# of its results records the key.
EXTRA_COLUMNS = [
    ("n_iter", "n_iter_", str),
    ("inertia", "inertia_ (reported)", _fmt_float),
    ("inertia_check", "inertia (recomputed)", _fmt_float),
    ("centers_rel_diff", "centers vs float64 pass", "{:.1e}".format),
    ("passes", "passes over X", "{:g}".format),
    ("ns_per_row", "ns / row", "{:.1f}".format),
    ("ns_per_row_per_pass", "ns / row / pass", "{:.2f}".format),
    ("import_s", "import", _fmt_time),
    ("import_own_s", "of it chunkml's modules", _fmt_time),
    ("first_fit_s", "first fit", _fmt_time),
    ("second_fit_s", "second fit", _fmt_time),
    ("overhead_s", "overhead", _fmt_time),
    ("warm_fit_s", "warm fit", _fmt_time),
    ("first_minus_warm_s", "first - warm fit", _fmt_time),
    ("warm_up_s", "warm_up()", _fmt_time),
    ("compile_s", "numba compiling", _fmt_time),
    ("compiled", "variants compiled", "{:g}".format),
    ("notices", "compile notices", "{:g}".format),
    ("fits", "fits", str),
    ("best_score", "best_score_", "{:.6f}".format),
]


def _impl(bench):
    return bench.get("params", {}).get("impl")


def _median(bench):
    return bench["stats"]["median"]


def _op(group):
    """The operation of a group: its name without the data size."""
    return group.split(" n_samples=")[0]


def _labels(benches):
    """Row labels: the impl, and the parameters that differ between the group's results
    (all of them where there is no impl and nothing differs)."""
    params = [b.get("params") or {} for b in benches]
    varying = [key for key in dict.fromkeys(k for p in params for k in p)
               if key != "impl" and len({str(p.get(key)) for p in params}) > 1]
    labels = []
    for bench, p in zip(benches, params):
        parts = [p["impl"]] if "impl" in p else []
        parts += [f"{k}={p[k]}" for k in (varying if parts or varying else p) if k in p]
        labels.append(" ".join(parts) or bench["name"])
    return labels


def _sort_key(bench):
    impl = _impl(bench)
    return IMPL_ORDER.index(impl) if impl in IMPL_ORDER else len(IMPL_ORDER)


def _group_table(group, benches, cpu_timer=False):
    benches = sorted(benches, key=_sort_key)
    labels = _labels(benches)
    chunkml = [b for b in benches if _impl(b) == "chunkml"]
    # One chunkml result to compare with; a series of them (scaling) has no ratio column.
    base = _median(chunkml[0]) if len(chunkml) == 1 else None
    median = {_impl(b): _median(b) for b in benches}
    has_floor = any(str(impl).startswith("floor_") for impl in median)
    extras = [(key, header, fmt) for key, header, fmt in EXTRA_COLUMNS
              if any(key in b.get("extra_info", {}) for b in benches)]

    header = ["result", "median", "min", "IQR", "rounds"]
    if base is not None:
        header.append("time / chunkml")
    if has_floor:
        header += ["GB per CPU s" if cpu_timer else "GB/s", "time / floor"]
    header += [h for _, h, _ in extras]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, bench in zip(labels, benches):
        impl, stats, extra = _impl(bench), bench["stats"], bench.get("extra_info", {})
        row = [label, _fmt_time(stats["median"]), _fmt_time(stats["min"]),
               _fmt_time(stats["iqr"]), str(stats["rounds"])]
        if base is not None:
            row.append("" if str(impl).startswith("floor_")
                       else _fmt_ratio(stats["median"] / base))
        if has_floor:
            nbytes = extra.get("bytes")
            floor = median.get("floor_flat") or median.get(FLOOR_FOR.get(impl, ""))
            row += ["" if nbytes is None else f"{nbytes / stats['median'] / 1e9:.2f}",
                    _fmt_ratio(None if floor is None else stats["median"] / floor)]
        row += [fmt(extra[key]) if key in extra else "" for key, _, fmt in extras]
        lines.append("| " + " | ".join(row) + " |")
    return [f"#### {group}", "", *lines, "", *_notes(benches, base, has_floor, labels),
            "", *_compile_table(group, benches, labels)]


def _compile_table(group, benches, labels):
    """numba's compile seconds per kernel (extra_info compile_s_by_kernel), one column
    per result that compiled anything, the slowest kernel first."""
    columns = [(label, b["extra_info"]["compile_s_by_kernel"])
               for b, label in zip(benches, labels)
               if b.get("extra_info", {}).get("compile_s_by_kernel")]
    if not columns:
        return []
    kernels = sorted({k for _, seconds in columns for k in seconds},
                     key=lambda k: (-max(s.get(k, 0.0) for _, s in columns), k))
    lines = [f"#### {group}: numba compile time per kernel", "",
             "| kernel | " + " | ".join(label for label, _ in columns) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for kernel in kernels:
        row = ["" if kernel not in seconds else f"{seconds[kernel]:.2f} s"
               for _, seconds in columns]
        lines.append(f"| {kernel.removeprefix('chunkml.kernels.')} | {' | '.join(row)} |")
    totals = [f"{sum(seconds.values()):.2f} s" for _, seconds in columns]
    lines.append(f"| total | {' | '.join(totals)} |")
    return [*lines, "", "A kernel's own time: the callees it compiles count for "
            "themselves; `[name=N]`: the integers held by a kernel made per case.",
            ""]


def _notes(benches, base, has_floor, labels):
    notes = []
    by_impl = {_impl(b): b for b in benches}
    if base is not None:
        fastest = by_impl["chunkml"]["stats"]["min"]
        peers = [f"{impl}/chunkml = {_median(by_impl[impl]) / base:.2f}x "
                 f"(of minimums {by_impl[impl]['stats']['min'] / fastest:.2f}x)"
                 for impl in PEERS if impl in by_impl]
        if peers:
            notes.append("Ratios of medians: " + ", ".join(peers)
                         + "; above 1: chunkml is faster.")
    if has_floor and base is not None and "floor_flat" in by_impl:
        notes.append(f"chunkml's pass costs {base / _median(by_impl['floor_flat']):.2f}x "
                     "the physical floor (one read of X's bytes, a numba prange flat sum "
                     "of the same blocks).")
    if has_floor and base is not None and "floor_dask" in by_impl:
        notes.append(f"chunkml's pass costs {base / _median(by_impl['floor_dask']):.2f}x "
                     "dask's `X.sum()` on the same scheduler (one read plus dask's "
                     "per-pass cost: not the floor).")
    whats = [f"`{_impl(b) or label}`: {b['extra_info']['what']}"
             for b, label in zip(benches, labels) if "what" in b.get("extra_info", {})]
    if whats:
        notes.append("Timed: " + "; ".join(whats) + ".")
    return notes


# -- targets ---------------------------------------------------------------------------------

def _find(by_op, op, **params):
    """The first result of operation `op` whose parameters include `params`."""
    for bench in by_op.get(op, []):
        if all(str((bench.get("params") or {}).get(k)) == str(v) for k, v in params.items()):
            return bench
    return None


def _ratio(numerator, denominator):
    """Median of result `numerator` / median of `denominator`, each (op, impl)."""
    def value(by_op):
        num, den = (_find(by_op, op, impl=impl) for op, impl in (numerator, denominator))
        return None if num is None or den is None else _median(num) / _median(den)
    return value


def _extra(op, key, **params):
    def value(by_op):
        bench = _find(by_op, op, **params)
        return None if bench is None else bench.get("extra_info", {}).get(key)
    return value


def _spread(op, key, dtype):
    """max / min of extra_info[key] over the results of `op` in `dtype` (a size series)."""
    def value(by_op):
        values = [b["extra_info"][key] for b in by_op.get(op, [])
                  if (b.get("params") or {}).get("dtype") == dtype
                  and key in b.get("extra_info", {})]
        return max(values) / min(values) if len(values) > 1 else None
    return value


_RATIO = "{:.2f}x".format


@dataclass(frozen=True)
class Target:
    """One of issue 7's goals: `value(by_op)` computes the run's number (None: not run),
    `comparison` and `goal` say what meets it (goal None: reported only)."""

    name: str
    value: Callable
    comparison: str = ">="
    goal: float = None
    fmt: Callable = _RATIO


def _ratio_target(name, numerator, denominator, comparison, goal):
    return Target(name, _ratio(numerator, denominator), comparison, goal)


TARGETS = [
    _ratio_target("fit-seed: dask-ml time / chunkml time",
                  ("fit-seed", "dask_ml"), ("fit-seed", "chunkml"), ">=", 10),
    _ratio_target("fit-seed: scikit-learn-intelex time / chunkml time",
                  ("fit-seed", "sklearnex"), ("fit-seed", "chunkml"), ">=", 2),
    _ratio_target("lloyd-iter: chunkml pass / the physical floor (floor_flat: numba prange "
                  "flat sum)", ("lloyd-iter", "chunkml"), ("lloyd-iter", "floor_flat"),
                  "<=", 2),
    Target("lloyd-iter: chunkml pass / dask's X.sum() (floor_dask: one read plus dask's "
           "per-pass cost)", _ratio(("lloyd-iter", "chunkml"), ("lloyd-iter", "floor_dask"))),
    *[Target(f"{op} {dtype}: {key.replace('_', ' ')}, max / min over sizes",
             _spread(op, key, dtype), "<=", 1.2)
      for op, key in (("scaling", "ns_per_row"), ("scaling-lloyd", "ns_per_row_per_pass"))
      for dtype in ("float64", "float32")],
    _ratio_target("fit-highdim: dask-ml time / chunkml time",
                  ("fit-highdim", "dask_ml"), ("fit-highdim", "chunkml"), ">=", 10),
    _ratio_target("lloyd-iter-highdim: faiss pass / chunkml pass",
                  ("lloyd-iter-highdim", "faiss"), ("lloyd-iter-highdim", "chunkml"), ">=", 1),
    *[_ratio_target(f"{op}: chunkml float64 pass / float32 pass",
                    (op, "chunkml"), (f"{op} float32", "chunkml"), ">", 1)
      for op in ("lloyd-iter", "lloyd-iter-highdim")],
    *[Target(f"{op} float32: chunkml centers vs float64 pass (relative)",
             _extra(f"{op} float32", "centers_rel_diff", impl="chunkml"), "<=", 1e-4,
             "{:.1e}".format)
      for op in ("lloyd-iter", "lloyd-iter-highdim")],
    Target("first-fit, warm cache: first fit - second fit + chunkml's imports",
           _extra("first-fit", "overhead_s", cache="warm"), "<", 1.0, _fmt_time),
    Target("first-fit, cold cache: the same overhead, compiling every kernel",
           _extra("first-fit", "overhead_s", cache="cold"), fmt=_fmt_time),
]


def _cold_overhead(case):
    """(import + first fit) with an empty numba cache minus the same with a warm one."""
    def value(by_op):
        cold, warm = (_find(by_op, "cold-start", case=case, cache=cache)
                      for cache in ("cold", "warm"))
        if cold is None or warm is None:
            return None
        cold, warm = cold["extra_info"], warm["extra_info"]
        return (cold["import_s"] + cold["first_fit_s"]) - (warm["import_s"]
                                                            + warm["first_fit_s"])
    return value


def _whole_warm_up(by_op):
    bench = _find(by_op, "cold-start", case="warm_up", cache="cold")
    if bench is None or not bench["extra_info"].get("what", "").startswith("warm_up():"):
        return None  # not run, or (tiny) for the seed's dtype and width only
    return bench["extra_info"]["warm_up_s"]


# Issue 13: the cost of a cold numba cache (benchmarks/bench_cold.py).
COLD_TARGETS = [
    Target("cold-start seed: import + first fit, empty cache - the same, warm cache",
           _cold_overhead("seed"), "<=", 5.0, _fmt_time),
    Target("cold-start seed: first fit - warm fit, empty cache",
           _extra("cold-start", "first_minus_warm_s", case="seed", cache="cold"), "<=",
           5.0, _fmt_time),
    Target("cold-start wide32 (float32, 64 features): first fit - warm fit, empty cache",
           _extra("cold-start", "first_minus_warm_s", case="wide32", cache="cold"), "<=",
           5.0, _fmt_time),
    Target("cold-start: chunkml.kernels.warm_up(), every kernel, empty cache",
           _whole_warm_up, "<=", 60.0, _fmt_time),
    Target("cold-start seed: first fit - warm fit, warm cache (loading the kernels)",
           _extra("cold-start", "first_minus_warm_s", case="seed", cache="warm"),
           fmt=_fmt_time),
]
# Issue 17: the "chunkml" joblib backend never slower than joblib's "dask" backend, and at
# least 1.3x faster where "dask" oversubscribes the cores (each task's numba threads on
# top of the worker's threads; OpenMP too without a nanny's OMP_NUM_THREADS=1).
OVERSUBSCRIBED = {("kmeans", "inprocess"), ("hgb", "inprocess"), ("kmeans", "processes")}
JOBLIB_TARGETS = [
    _ratio_target(f"joblib-{search} {cluster}: dask backend time / chunkml backend time",
                  (f"joblib-{search} {cluster}", "dask"),
                  (f"joblib-{search} {cluster}", "chunkml"), ">=",
                  1.3 if (search, cluster) in OVERSUBSCRIBED else 1.0)
    for search in ("svc", "kmeans", "hgb") for cluster in ("inprocess", "processes")
]
COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


def _status(value, comparison, goal):
    if value is None:
        return "not run"
    if goal is None:
        return "reported"
    met = COMPARE[comparison](value, goal)
    if value <= 0:
        return "met" if met else "missed"
    # How far from the goal, as a factor of at least 1.
    factor = value / goal if comparison.startswith(">") else goal / value
    if met:
        return f"met, {factor:.3g}x to spare"
    return f"missed by {1 / factor:.3g}x"


def _targets_table(by_op, targets=TARGETS, issue=7):
    lines = [f"#### targets (issue {issue})", "", "| target | measured | goal | status |",
             "|---|---|---|---|"]
    for target in targets:
        value = target.value(by_op)
        goal = "" if target.goal is None else f"{target.comparison} {target.fmt(target.goal)}"
        lines.append(f"| {target.name} | {'' if value is None else target.fmt(value)} | "
                     f"{goal} | {_status(value, target.comparison, target.goal)} |")
    return [*lines, ""]


# -- one run ---------------------------------------------------------------------------------

def _embed_iter_table(group, benches):
    """Issue 14's per-iteration comparison for one embed-iter group: GFLOP/s (2 n d k
    per iteration), the share of the GEMM floor's rate, and the targets' ratios."""
    by_impl = {_impl(b): b for b in benches}
    gemm = by_impl.get("floor_gemm")
    lines = [f"#### {group}: GFLOP/s and the float32 GEMM rate (issue 14)", "",
             "| result | median | GFLOP/s | of the GEMM rate | time / sklearnex | "
             "sklearn time / this |", "|---|---|---|---|---|---|"]
    for impl in [i for i in IMPL_ORDER + ["floor_gemm"] if i in by_impl]:
        bench = by_impl[impl]
        median, flops = _median(bench), bench.get("extra_info", {}).get("flops")
        rate = None if flops is None else flops / median / 1e9
        share = (None if gemm is None or flops is None
                 else _median(gemm) / median)
        versus_ex = (None if "sklearnex" not in by_impl
                     else median / _median(by_impl["sklearnex"]))
        versus_sk = (None if "sklearn" not in by_impl
                     else _median(by_impl["sklearn"]) / median)
        lines.append(f"| {impl} | {_fmt_time(median)} | "
                     f"{'' if rate is None else f'{rate:.1f}'} | "
                     f"{'' if share is None else f'{100 * share:.0f}%'} | "
                     f"{_fmt_ratio(versus_ex)} | {_fmt_ratio(versus_sk)} |")
    lines += ["", "Targets: chunkml (dask and numpy input) time / sklearnex <= 1, sklearn "
              "time / chunkml >= 1.5, and at least 70% of the GEMM rate.", ""]
    return lines


def _embed_fit_table(group, benches):
    """Default fits of one embed-fit group: time and inertia (recomputed on all of X)
    against scikit-learn's k-means++ fit and chunkml's full fit."""
    by_impl = {_impl(b): b for b in benches}
    sk = by_impl.get("sklearn")
    full = by_impl.get("chunkml")
    lines = [f"#### {group}: default fits (issue 14)", "",
             "| result | time | n_iter_ | init / iteration | inertia (recomputed) | "
             "inertia / sklearn's | inertia / chunkml's | time / chunkml's |",
             "|---|---|---|---|---|---|---|---|"]

    def ratio(bench, other, key):
        if other is None:
            return None
        if key == "time":
            return _median(bench) / _median(other)
        return bench["extra_info"]["inertia_check"] / other["extra_info"]["inertia_check"]

    for impl in [i for i in IMPL_ORDER if i in by_impl]:
        bench = by_impl[impl]
        extra = bench.get("extra_info", {})
        label = impl + (f" sample_size={extra['sample_size']}" if "sample_size" in extra
                        else "")
        inertia_ratio = ratio(bench, sk, "inertia")
        chunkml_ratio = ratio(bench, full, "inertia")
        init = ("" if "init_s" not in extra else
                f"{_fmt_time(extra['init_s'])} / {_fmt_time(extra['iteration_s'])} = "
                f"{extra['init_iterations']:.1f}")
        lines.append(
            f"| {label} | {_fmt_time(_median(bench))} | {extra.get('n_iter', '')} | "
            f"{init} | "
            f"{_fmt_float(extra['inertia_check']) if 'inertia_check' in extra else ''} | "
            f"{'' if inertia_ratio is None else f'{inertia_ratio:.5f}'} | "
            f"{'' if chunkml_ratio is None else f'{chunkml_ratio:.5f}'} | "
            f"{_fmt_ratio(ratio(bench, full, 'time'))} |")
    lines += ["", "init / iteration: the init's time in the fit's own Lloyd iterations "
              "(from its progress events; target: at most 10). Target: inertia / sklearn's "
              "<= 1.01.", ""]
    return lines


def _embed_tables(groups):
    out = []
    for group, benches in groups.items():
        if group.startswith("embed-iter "):
            out += _embed_iter_table(group, benches)
        elif group.startswith("embed-fit "):
            out += _embed_fit_table(group, benches)
    return out


def _data_line(cfg):
    seed = (f"seed make_blobs(n_samples={cfg['n_samples']}, chunks={cfg['chunks']}, "
            f"centers=3, n_features=2)")
    if "highdim" in cfg:
        seed += (f", highdim make_blobs(n_samples={cfg['highdim'][0]}, "
                 f"chunks={cfg['highdim'][1]}, centers=16, n_features=32), scaling "
                 f"series n_samples in {cfg['scaling']}")
    return (f"- Data: {seed}; random_state=0, float64 unless the group says float32; "
            f"{cfg['threads']} threads for every implementation; {cfg['rounds']} timed "
            f"rounds after {cfg['warmup_rounds']} warm-up")


def report(path, title=None):
    with open(path) as f:
        data = json.load(f)
    env = data.get("machine_info", {}).get("chunkml_bench") or _live_environment()
    versions = ", ".join(f"{name} {version}" for name, version in env["versions"].items()
                         if version)
    cfg = env.get("bench", {})
    timer = next((b.get("options", {}).get("timer") for b in data["benchmarks"]), None)
    cpu_timer = timer is not None and "process_time" in timer
    commit = data.get("commit_info", {})
    out = [f"### {title or Path(path).stem}", "",
           f"- Machine: {env['cpu_model']}, {env['cpu_count']} cores, "
           f"{env['ram_gib']} GiB RAM",
           f"- Versions: {versions}",
           f"- Run: {data.get('datetime', '?')}"
           + (f", commit {commit['id'][:10]}{' (dirty)' if commit.get('dirty') else ''}"
              if commit.get("id") else "")]
    if cfg:
        out.append(_data_line(cfg))
    if data.get("command"):
        out.append(f"- Command: `{data['command']}`")
    if cpu_timer:
        out.append("- Timer: `time.process_time`, so every time below is CPU seconds of all "
                   "threads of the process, not wall time (idle waits do not count; OpenMP "
                   "spin-waiting does)")
    out.append("")

    groups, by_op = {}, {}
    for bench in data["benchmarks"]:
        group = bench.get("group") or bench["name"]
        groups.setdefault(group, []).append(bench)
        by_op.setdefault(_op(group), []).append(bench)
    out += _targets_table(by_op)
    if any(op.startswith("joblib-") for op in by_op):
        out += _targets_table(by_op, JOBLIB_TARGETS, issue=17)
    if "cold-start" in by_op:
        out += _targets_table(by_op, COLD_TARGETS, issue=13)
    out += _embed_tables(groups)
    for group, benches in groups.items():
        out += _group_table(group, benches, cpu_timer)
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="pytest-benchmark --benchmark-json files")
    parser.add_argument("--out", help="write the markdown here instead of stdout")
    parser.add_argument("--title", action="append",
                        help="section title for each JSON file, in order (default: name)")
    args = parser.parse_args(argv)
    titles = args.title or []
    sections = [report(path, titles[i] if i < len(titles) else None)
                for i, path in enumerate(args.json)]
    text = "\n".join(sections)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
