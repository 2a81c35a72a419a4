"""Markdown tables from pytest-benchmark JSON files written by benchmarks/bench_*.py.

    python benchmarks/report.py RUN.json [MORE.json ...] [--out FILE] [--title TEXT]

For each file: the machine (CPU model, cores, RAM), library versions, the command, and per
group a table of each implementation's median time, its ratio to chunkml (so the sklearn
row reads sklearn/chunkml), the fitted n_iter_/inertia_ where recorded, and for the
lloyd-iter group the bandwidth and the ratio to the one-read floor (dask implementations
against the dask floor, scikit-learn against the numpy floor).
"""

import argparse
import json
import os
import platform
import sys
from pathlib import Path

IMPL_ORDER = ["chunkml", "sklearn", "dask_ml", "floor_dask", "floor_numpy"]
FLOOR_FOR = {"chunkml": "floor_dask", "dask_ml": "floor_dask", "sklearn": "floor_numpy"}


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
    return "" if value is None else f"{value:.7g}"


def _impl(bench):
    return bench.get("params", {}).get("impl") or bench["name"]


def _sort_key(bench):
    impl = _impl(bench)
    return (IMPL_ORDER.index(impl) if impl in IMPL_ORDER else len(IMPL_ORDER), impl)


def _group_table(group, benches, cpu_timer=False):
    by_impl = {_impl(b): b for b in benches}
    median = {impl: b["stats"]["median"] for impl, b in by_impl.items()}
    base = median.get("chunkml")
    has_floor = any(impl.startswith("floor_") for impl in by_impl)
    has_fit = any("n_iter" in b.get("extra_info", {}) for b in benches)

    header = ["impl", "median", "min", "IQR", "rounds", "time / chunkml"]
    if has_floor:
        header += ["GB per CPU s" if cpu_timer else "GB/s", "time / floor"]
    if has_fit:
        header += ["n_iter_", "inertia_ (reported)", "inertia (recomputed)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for bench in sorted(benches, key=_sort_key):
        impl = _impl(bench)
        stats, extra = bench["stats"], bench.get("extra_info", {})
        ratio = None if base is None or impl.startswith("floor_") else median[impl] / base
        row = [impl, _fmt_time(stats["median"]), _fmt_time(stats["min"]),
               _fmt_time(stats["iqr"]), str(stats["rounds"]), _fmt_ratio(ratio)]
        if has_floor:
            nbytes = extra.get("bytes")
            floor = median.get(FLOOR_FOR.get(impl, ""))
            row += ["" if nbytes is None else f"{nbytes / stats['median'] / 1e9:.2f}",
                    _fmt_ratio(None if floor is None else median[impl] / floor)]
        if has_fit:
            row += [str(extra.get("n_iter", "")), _fmt_float(extra.get("inertia")),
                    _fmt_float(extra.get("inertia_check"))]
        lines.append("| " + " | ".join(row) + " |")

    notes = []
    if base is not None:
        fastest = {impl: b["stats"]["min"] for impl, b in by_impl.items()}
        peers = [f"{impl}/chunkml = {median[impl] / base:.2f}x "
                 f"(of minimums {fastest[impl] / fastest['chunkml']:.2f}x)"
                 for impl in ("sklearn", "dask_ml") if impl in median]
        if peers:
            notes.append("Ratios of medians: " + ", ".join(peers)
                         + "; above 1: chunkml is faster.")
    if has_floor and base is not None and "floor_dask" in median:
        notes.append(f"chunkml's pass costs {base / median['floor_dask']:.2f}x one read of X "
                     "(`X.sum()`) with the same scheduler.")
    whats = [f"`{_impl(b)}`: {b['extra_info']['what']}" for b in sorted(benches, key=_sort_key)
             if "what" in b.get("extra_info", {})]
    if whats:
        notes.append("Timed: " + "; ".join(whats) + ".")
    return [f"#### {group}", "", *lines, "", *notes, ""]


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
        out.append(f"- Data: make_blobs(n_samples={cfg['n_samples']}, "
                   f"chunks={cfg['chunks']}, centers=3, n_features=2, random_state=0), "
                   f"float64; {cfg['threads']} threads for every implementation; "
                   f"{cfg['rounds']} timed rounds after {cfg['warmup_rounds']} warm-up")
    if data.get("command"):
        out.append(f"- Command: `{data['command']}`")
    if cpu_timer:
        out.append("- Timer: `time.process_time`, so every time below is CPU seconds of all "
                   "threads of the process, not wall time (idle waits do not count; OpenMP "
                   "spin-waiting does)")
    out.append("")

    groups = {}
    for bench in data["benchmarks"]:
        groups.setdefault(bench.get("group") or bench["name"], []).append(bench)
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
