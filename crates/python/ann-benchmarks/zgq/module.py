# ann-benchmarks algorithm module: copy this folder to
# ann_benchmarks/algorithms/zgq/ (see ../README.md). The class lives in the
# zgq package itself (zgq/ann_benchmarks.py), so it is tested with it.
from zgq.ann_benchmarks import ZGQ  # noqa: F401
