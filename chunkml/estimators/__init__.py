"""scikit-learn estimators: parameters, validation, fitted attributes. No numba here."""

from .kmeans import KMeans

__all__ = ["KMeans"]
