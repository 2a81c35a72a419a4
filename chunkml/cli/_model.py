"""``model.json``: a fitted k-means model as ``chunkml cluster`` writes it and
``chunkml predict`` reads it.

A JSON object, so that loading a file from anyone runs no code (no pickle)::

    {"format": "chunkml-kmeans-model", "format_version": 1,
     "chunkml_version": "0.1.0",
     "n_clusters": K, "n_features": D, "dtype": "float64" | "float32",
     "feature_names": ["a", "b", ...] | null,      # the columns of .parquet/.csv input
     "centers": [[...], ...],                       # K lists of D numbers
     "params": {"init": ..., "max_iter": ..., ...}, # what the fit was given
     "inertia": ..., "n_iter": ...}

The centers are written as float64, whose decimal ``repr`` round-trips exactly; a
reader accepts any ``format_version`` up to its own and ignores keys it does not know.
"""

import json
import math

from . import _files
from ._errors import UsageError

NAME = "model.json"
FORMAT = "chunkml-kmeans-model"
FORMAT_VERSION = 1
_DTYPES = ("float64", "float32")


def write(path, km, feature_names, params):
    import numpy as np

    from .. import __version__

    centers = np.asarray(km.cluster_centers_)
    model = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chunkml_version": __version__,
        "n_clusters": int(centers.shape[0]),
        "n_features": int(centers.shape[1]),
        "dtype": str(centers.dtype),
        "feature_names": feature_names,
        "centers": centers.astype(np.float64).tolist(),
        "params": params,
        "inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
    }
    _files.write_atomic(path, lambda f: f.write(
        json.dumps(model, indent=2).encode("utf-8") + b"\n"))


def read(path):
    """(centers ndarray of shape (K, D) in the model's dtype, feature names or None)."""
    import numpy as np

    def bad(problem):
        return UsageError(f"MODEL {path!r} {problem}")

    from . import _urls

    try:
        if _urls.url_protocol(path) is None:
            with open(path, encoding="utf-8") as f:
                model = json.load(f)
        else:
            fs, name = _urls.url_filesystem(path, "MODEL")
            with fs.open(name, "rb") as f:
                model = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise bad("does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(f"cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise bad(f"is not JSON ({exc}); expected the {NAME} chunkml cluster "
                  "writes") from None
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        raise bad(f"is not a chunkml model (no \"format\": {FORMAT!r})")
    version = model.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise bad(f"has format_version {version!r}; this chunkml reads 1 to "
                  f"{FORMAT_VERSION}: upgrade chunkml")
    k, d, dtype = model.get("n_clusters"), model.get("n_features"), model.get("dtype")
    if not (isinstance(k, int) and k >= 1 and isinstance(d, int) and d >= 1):
        raise bad("has no positive integer n_clusters and n_features")
    if dtype not in _DTYPES:
        raise bad(f"has dtype {dtype!r}; expected one of {', '.join(_DTYPES)}")
    centers = model.get("centers")
    if not (isinstance(centers, list) and len(centers) == k
            and all(isinstance(row, list) and len(row) == d for row in centers)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v) for row in centers for v in row)):
        raise bad(f"holds no {k} x {d} centers of finite numbers")
    names = model.get("feature_names")
    if names is not None and not (isinstance(names, list) and len(names) == d
                                  and all(isinstance(n, str) for n in names)):
        raise bad(f"has feature_names that are not {d} column names")
    return np.asarray(centers, dtype=np.float64).astype(dtype), names


def fitted(centers):
    """A chunkml.KMeans that predicts with ``centers``: the fitted attributes a fit
    sets for predict and transform (``cluster_centers_``, ``n_features_in_``)."""
    from .. import KMeans

    km = KMeans(n_clusters=centers.shape[0], init=centers)
    km.cluster_centers_ = centers
    km.n_features_in_ = centers.shape[1]
    return km
