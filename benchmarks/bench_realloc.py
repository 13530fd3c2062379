"""asv: the timed workloads of the catalogue's `realloc` family (one class per workload)."""

from .common import points, setup_workload, timed_workload_classes

globals().update(timed_workload_classes("realloc"))


class ReallocInPlace:
    """Fraction of the reallocs of one growth that kept the pointer (catalogue workload
    ``realloc_moves``)."""

    params = [points("realloc_moves")]
    param_names = ["point"]
    version = "1"
    unit = "fraction"
    timeout = 300

    def setup(self, label):
        _, self.module, self.params = setup_workload("realloc_moves", label)

    def track_in_place_fraction(self, label):
        r = self.module.realloc_moves(**self.params)
        return r["in_place"] / r["reallocs"] if r["reallocs"] else float("nan")
