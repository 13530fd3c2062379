"""asv: the catalogue's `fragmentation` workload. RSS per live byte after each phase and the
bytes kept after drop-all (``track_``, one fresh interpreter per point, so no other
benchmark's heap is counted), and the peak RSS of a process running it (``peakmem_``)."""

from .common import points, run_in_subprocess, setup_workload


def _phase(result, name):
    return next(p for p in result["phases"] if p["phase"] == name)


class Fragmentation:
    """RSS above the pre-fill baseline per live byte requested, phase by phase; and the RSS
    kept once every block is freed (memory the allocator did not give back)."""

    params = [points("fragmentation")]
    param_names = ["point"]
    version = "1"
    timeout = 900

    def setup_cache(self):
        # The phases of a point come from one run of the workload.
        return {
            label: run_in_subprocess("fragmentation", setup_workload("fragmentation", label)[2])
            for label in points("fragmentation")
        }

    def setup(self, cache, label):
        if label not in cache:
            raise NotImplementedError(label)

    def _ratio(self, cache, label, phase):
        p = _phase(cache[label], phase)
        return p["rss_delta"] / p["live_bytes"]

    def track_rss_per_live_byte_fill(self, cache, label):
        return self._ratio(cache, label, "fill")

    def track_rss_per_live_byte_free(self, cache, label):
        return self._ratio(cache, label, "free")

    def track_rss_per_live_byte_refill(self, cache, label):
        return self._ratio(cache, label, "refill")

    def track_rss_retained_after_drop(self, cache, label):
        return _phase(cache[label], "drop")["rss_delta"]


for _name in ("fill", "free", "refill"):
    getattr(Fragmentation, f"track_rss_per_live_byte_{_name}").unit = "RSS bytes per live byte"
Fragmentation.track_rss_retained_after_drop.unit = "bytes"


class FragmentationPeak:
    """Peak RSS of a process that runs the whole workload once."""

    params = [points("fragmentation")]
    param_names = ["point"]
    version = "1"
    timeout = 900

    def setup(self, label):
        _, self.module, self.params = setup_workload("fragmentation", label)

    def peakmem_fragmentation(self, label):
        self.module.fragmentation(**self.params)
