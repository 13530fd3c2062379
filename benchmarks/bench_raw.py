"""asv: the timed workloads of the catalogue's `raw` family (one class per workload)."""

from .common import timed_workload_classes

globals().update(timed_workload_classes("raw"))
