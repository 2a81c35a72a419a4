"""What a command reports: its summary table on stdout and its summary.json."""

import json

from . import _files


def plural(n, word):
    return f"{n:,} {word}{'s' if n != 1 else ''}"


def table(rows):
    """(label, value) pairs as two columns: labels left-aligned, values right-aligned."""
    label_width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    return "\n".join(f"{label:<{label_width}}  {value:>{value_width}}"
                     for label, value in rows)


def fit_table(summary, steps, first=()):
    """The table of a fit's summary (demo, cluster): ``first`` rows, the data and the
    fit, then the seconds of each of ``steps`` that the run timed."""
    seconds = summary["seconds"]
    rows = list(first) + [
        ("rows", f"{summary['n_samples']:,}"),
        ("features", f"{summary['n_features']:,}"),
        ("chunks", f"{summary['n_chunks']:,}"),
        ("clusters", f"{summary['n_clusters']:,}"),
        ("iterations", f"{summary['n_iter']:,}"),
        ("inertia", f"{summary['inertia']:.6g}"),
    ]
    rows += [(f"{step} [s]", f"{seconds[step]:.2f}") for step in steps if step in seconds]
    return table(rows)


def emit(args, summary, table_text):
    """The last thing a command prints on stdout: its table, or under --json its
    summary as one JSON object on one line."""
    print(json.dumps(summary) if args.json else table_text, flush=True)


def summary_bytes(summary):
    # float64 -> JSON keeps every digit: repr round-trips.
    return json.dumps(summary, indent=2).encode("utf-8") + b"\n"


def write_summary(path, summary):
    _files.write_atomic(path, lambda f: f.write(summary_bytes(summary)))
