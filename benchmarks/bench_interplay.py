"""asv: the catalogue's `python_interplay` workload: do Rust blocks keep pymalloc arenas
(and RSS) alive once the Rust side is dropped?"""

from .common import points, run_in_subprocess, setup_workload


class PythonInterplay:
    """RSS above the workload's start after each phase, and pymalloc arenas in use after
    the Rust side is dropped (None where pymalloc is off)."""

    params = [points("python_interplay")]
    param_names = ["point"]
    version = "1"
    timeout = 900

    def setup_cache(self):
        return {
            label: run_in_subprocess(
                "python_interplay", setup_workload("python_interplay", label)[2]
            )
            for label in points("python_interplay")
        }

    def setup(self, cache, label):
        if label not in cache:
            raise NotImplementedError(label)

    def _rss(self, cache, label, phase):
        phases = {p["phase"]: p for p in cache[label]["phases"]}
        return phases[phase]["rss_bytes"] - phases["start"]["rss_bytes"]

    def track_rss_interleaved(self, cache, label):
        return self._rss(cache, label, "interleaved")

    def track_rss_after_rust_dropped(self, cache, label):
        return self._rss(cache, label, "rust_dropped")

    def track_rss_after_python_dropped(self, cache, label):
        return self._rss(cache, label, "python_dropped")

    def track_arenas_after_rust_dropped(self, cache, label):
        phases = {p["phase"]: p for p in cache[label]["phases"]}
        arenas = phases["rust_dropped"]["python"]["arenas"]
        return float("nan") if arenas is None else arenas


for _m in ("interleaved", "after_rust_dropped", "after_python_dropped"):
    getattr(PythonInterplay, f"track_rss_{_m}").unit = "bytes"
PythonInterplay.track_arenas_after_rust_dropped.unit = "arenas"
