"""asv: the timed workloads of the catalogue's `throughput` family (one class per workload)."""

from .common import timed_workload_classes

globals().update(timed_workload_classes("throughput"))
