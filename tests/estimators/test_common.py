"""scikit-learn's estimator checks, as for sklearn.cluster.KMeans."""

from sklearn.utils.estimator_checks import parametrize_with_checks

import chunkml

# Exactly the expected failures scikit-learn declares for its own KMeans, with its reason
# (sklearn/utils/_test_common/instance_generator.py, PER_ESTIMATOR_XFAIL_CHECKS).
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is not equivalent to removing/repeating samples."
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "sample_weight is not equivalent to removing/repeating samples."
    ),
}


# The parameters scikit-learn's checks use for its KMeans (INIT_PARAMS there).
@parametrize_with_checks(
    [chunkml.KMeans(n_init=2, n_clusters=2, max_iter=5)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
