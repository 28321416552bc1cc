"""Real scikit-learn through the bridge: its joblib calls become jlcache jobs, same answers."""

from __future__ import annotations

import joblib
import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_memory

from tests.bridge._helpers import jobs_in

GRID = {"C": [0.01, 0.1, 1.0, 10.0]}


class FailsOnLargeC(ClassifierMixin, BaseEstimator):
    """An estimator whose fit raises for some parameters (as a bad grid point does)."""

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y):
        if self.C > 1:
            raise ArithmeticError(f"C={self.C} diverged")
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


FITS: list = []


class CountingScaler(TransformerMixin, BaseEstimator):
    """Records each fit, so a test can see whether Pipeline's memory skipped it."""

    def __init__(self, factor=2.0):
        self.factor = factor

    def fit(self, X, y=None):
        FITS.append(self.factor)
        self.mean_ = X.mean(axis=0)
        return self

    def transform(self, X):
        return (X - self.mean_) * self.factor


def test_grid_search_is_one_job_with_joblibs_results(bridged, recorded_events, xy):
    X, y = xy
    search = GridSearchCV(LogisticRegression(max_iter=500), GRID, cv=3, n_jobs=2).fit(X, y)
    jobs = jobs_in(recorded_events)
    assert len(jobs) == 1
    (job,) = jobs.values()
    start, end = job[0][1], job[-1][1]
    assert start["func"] == "sklearn.model_selection._validation._fit_and_score"
    assert (start["backend"], start["n_jobs"]) == ("loky", 2)
    assert (end["status"], end["done"]) == ("done", 12)
    assert job[-2][1]["total"] == 12  # the final total, once sklearn's generator is exhausted
    import jlcache

    with jlcache.bridge_joblib(False), joblib.parallel_config("threading"):
        # the same search on plain joblib (threads: no second pool to start in this test)
        plain = GridSearchCV(LogisticRegression(max_iter=500), GRID, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"])
    assert search.best_params_ == plain.best_params_


def test_cross_val_score_runs_as_a_job(bridged, recorded_events, xy):
    X, y = xy
    scores = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=4, n_jobs=2)
    assert scores.shape == (4,)
    (job,) = jobs_in(recorded_events).values()
    assert job[-1][1]["status"] == "done" and job[-1][1]["done"] == 4


def test_a_threaded_estimator_runs_on_jlcache_threads(bridged, recorded_events, xy):
    X, y = xy
    forest = RandomForestClassifier(n_estimators=8, n_jobs=2, random_state=0).fit(X, y)
    reference = RandomForestClassifier(n_estimators=8, n_jobs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(forest.predict_proba(X), reference.predict_proba(X))
    starts = [job[0][1] for job in jobs_in(recorded_events).values()]
    assert starts[0]["func"] == "sklearn.ensemble._forest._parallel_build_trees"
    assert {s["backend"] for s in starts if s["n_jobs"] == 2} == {"threading"}


def test_an_error_in_a_fit_is_raised_with_its_own_type(bridged, recorded_events, xy):
    X, y = xy
    search = GridSearchCV(FailsOnLargeC(), {"C": [0.1, 100.0]}, cv=2, n_jobs=2,
                          error_score="raise")
    with pytest.raises(ArithmeticError, match=r"C=100\.0 diverged"):
        search.fit(X, y)
    (job,) = jobs_in(recorded_events).values()
    assert job[-1][1]["status"] == "error"


def test_pipeline_memory_accepts_jlcache_memory_and_skips_cached_fits(tmp_path, xy):
    import jlcache

    X, y = xy
    memory = jlcache.Memory(tmp_path / "cache")
    assert check_memory(memory) is memory
    FITS.clear()

    def fit():
        steps = [("scale", CountingScaler(3.0)), ("model", LogisticRegression(max_iter=500))]
        return Pipeline(steps, memory=memory).fit(X, y)

    first, second = fit(), fit()
    assert FITS == [3.0], "the refit restored the fitted scaler from the cache"
    np.testing.assert_allclose(first.predict_proba(X), second.predict_proba(X))
    np.testing.assert_allclose(second.named_steps["scale"].mean_, X.mean(axis=0))
    other = Pipeline([("scale", CountingScaler(5.0)), ("model", LogisticRegression())],
                     memory=memory).fit(X, y)
    assert FITS == [3.0, 5.0] and other.named_steps["scale"].factor == 5.0


def test_pipeline_with_a_memory_without_location_does_not_cache(xy):
    import jlcache

    X, y = xy
    FITS.clear()
    for _ in range(2):
        Pipeline([("scale", CountingScaler()), ("model", LogisticRegression())],
                 memory=jlcache.Memory(None)).fit(X, y)
    assert FITS == [2.0, 2.0]
