"""``clusters.png`` of ``chunkml demo``: a sample of X coloured by cluster.

matplotlib is an optional extra (``pip install chunkml[plot]``), imported here only.
"""

from . import _files

# About 20k points shows each cluster's shape and plots in well under a second;
# the sample travels from the workers to the client in one small compute.
PLOT_POINTS = 20_000
# Fixed here rather than taken from the user's matplotlibrc: always 640 x 480 px.
_FIG_SIZE = (6.4, 4.8)
_FIG_DPI = 100


def available(say):
    """Whether matplotlib can be imported; says that the plot is skipped when not."""
    try:
        from matplotlib import colormaps, figure  # noqa: F401
        from matplotlib.backends import backend_agg  # noqa: F401
    except ImportError:
        say("matplotlib is not installed: skipping clusters.png "
            "(pip install chunkml[plot])")
        return False
    return True


def plot_clusters(path, X, labels, centers, n_samples):
    """Scatter about 20k rows of X coloured by label, centers as big X markers."""
    import dask
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    step = -(-n_samples // PLOT_POINTS)
    # One compute: the labels' graph reads the same persisted blocks as the sample.
    labels_sample, X_sample = dask.compute(labels[::step], X[::step])
    labels_sample = np.asarray(labels_sample)
    n_clusters, n_features = centers.shape
    if n_clusters <= 10:
        cmap = colormaps["tab10"]
    elif n_clusters <= 20:
        cmap = colormaps["tab20"]
    else:
        cmap = colormaps["turbo"].resampled(n_clusters)

    # A bare Figure on an Agg canvas: no pyplot, no global backend switch.
    fig = Figure(figsize=_FIG_SIZE, dpi=_FIG_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if n_features >= 2:
        ax.scatter(X_sample[:, 0], X_sample[:, 1], c=cmap(labels_sample), s=3,
                   linewidths=0, alpha=0.6, rasterized=True)
        ax.scatter(centers[:, 0], centers[:, 1], c=cmap(np.arange(n_clusters)),
                   marker="X", s=300, edgecolors="black", linewidths=1.5, zorder=3,
                   label="centers")
        ax.set_xlabel("feature 0")
        ax.set_ylabel("feature 1")
    else:
        rows = np.arange(len(labels_sample)) * step
        ax.scatter(X_sample[:, 0], rows, c=cmap(labels_sample), s=3, linewidths=0,
                   alpha=0.6, rasterized=True)
        for i, center in enumerate(centers[:, 0]):
            ax.axvline(center, color=cmap(i), linewidth=2)
        ax.scatter(centers[:, 0], np.full(n_clusters, rows.mean() if len(rows) else 0),
                   c=cmap(np.arange(n_clusters)), marker="X", s=300,
                   edgecolors="black", linewidths=1.5, zorder=3, label="centers")
        ax.set_xlabel("feature 0")
        ax.set_ylabel("row")
    legend = ax.legend(loc="upper right", fontsize="small")
    # The handle would take the first cluster's colour; it stands for every center.
    legend.legend_handles[0].set_facecolor("lightgray")
    ax.set_title(f"chunkml.KMeans: n = {n_samples:,} rows, k = {n_clusters} clusters\n"
                 f"{len(labels_sample):,} sampled rows coloured by cluster",
                 fontsize="medium")
    return _files.write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=_FIG_DPI))
