"""Wall-clock timing shared by the benchmarks: the median of repeated runs."""

from __future__ import annotations

import statistics
import time


def median_seconds(function, repeats: int, warmup: int = 0) -> float:
    """Call ``function`` ``warmup`` times untimed, then return the median of ``repeats`` runs."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
