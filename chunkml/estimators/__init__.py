"""scikit-learn estimators: parameters, validation, fitted attributes. No numba here."""

from .kmeans import KMeans
from .minibatch import MiniBatchKMeans

__all__ = ["KMeans", "MiniBatchKMeans"]
