"""The ann-benchmarks wrapper (zgq.ann_benchmarks.ZGQ) used the way the
suite uses it: construct, fit, set_query_arguments, query / batch_query."""

import numpy as np
import pytest
from zgq.ann_benchmarks import ZGQ

from conftest import brute_force, recall


@pytest.mark.parametrize("metric,params,arg", [
    ("euclidean", {"design": "sq8-graph", "M": 16, "efConstruction": 100}, 64),
    ("angular", {}, 64),
    ("euclidean", {"design": "scan"}, 10_000),  # nprobe beyond the zones: all of them
])
def test_the_suite_protocol_finds_neighbours(data, metric, params, arg):
    base, queries = data
    algo = ZGQ(metric, params)
    before = algo.get_memory_usage()
    algo.fit(base.astype(np.float64))  # the suite's arrays may be float64
    assert algo.get_memory_usage() > 0 and before > 0
    algo.set_query_arguments(arg)
    assert str(algo).startswith("zgq (") and ("'ef'" in str(algo)) == (params.get("design") != "scan")
    truth = brute_force({"euclidean": "l2", "angular": "cosine"}[metric], queries, base, 10)
    singles = np.stack([algo.query(q, 10) for q in queries])
    assert recall(singles, truth) >= 0.95
    algo.batch_query(queries, 10)
    np.testing.assert_array_equal(algo.get_batch_results(), singles)
    extra = algo.get_additional()
    assert extra["index_bytes"] > 0 and extra["design"] == params.get("design", "graph")
    algo.done()
    assert algo.index is None


def test_a_second_query_argument_sets_rerank(data):
    base, queries = data
    algo = ZGQ("euclidean", {"design": "scan"})
    algo.fit(base)
    truth = brute_force("l2", queries, base, 10)
    algo.set_query_arguments(10_000, 10)  # every zone, but only 10 re-ranked
    assert "'rerank': 10" in str(algo)
    few = recall(np.stack([algo.query(q, 10) for q in queries]), truth)
    algo.set_query_arguments(10_000, 500)
    many = recall(np.stack([algo.query(q, 10) for q in queries]), truth)
    assert many > few and many >= 0.99


def test_unknown_metric_is_refused(data):
    with pytest.raises(ValueError, match="hamming"):
        ZGQ("hamming", {}).fit(data[0])
