"""hnswlib's graph build time for N clustered 384-d vectors (the generator of compare.py),
2 threads, M 16, ef_construction 200: the reference for `lore bench-scale`'s build time.

    benches/compare/.venv/bin/python benches/compare/hnswlib_build.py 1000000
"""
import sys
import time
from pathlib import Path

import hnswlib
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from compare import THREADS, clustered  # noqa: E402

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
base = clustered(n, 384, 100, 7)
index = hnswlib.Index(space="ip", dim=384)
index.init_index(max_elements=n, M=16, ef_construction=200, random_seed=100)
index.set_num_threads(THREADS)
t0 = time.perf_counter()
index.add_items(base, np.arange(n))
print(f"hnswlib build, {n} vectors, {THREADS} threads: {time.perf_counter() - t0:.1f} s")
