"""The asv dashboard, published from the committed results/ and opened in headless
Chromium: the deterministic lines (bench_deterministic: instructions/op and est. cycles/op
by callgrind) hold at least MIN_COMMITS commits for every flavour in the published data; a
graph narrowed to one point draws a line for every flavour; every link of the README's
landing section ("The dashboard at a glance") opens a graph that draws; the wall-time
lines (ns/op) hold the same history."""

import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest
from helpers import FLAVOURS, ROOT

MACHINE = "rust-pyo3"
BENCH = "bench_deterministic.AllocPair.track_instructions"
PARAMS = {"size": 64}
# The deterministic benchmarks (one class per point, two track_ methods each).
DETERMINISTIC = [
    f"bench_deterministic.{c}.{m}"
    for c in ("AllocPair", "RawPair", "ChurnBatch", "JsonRoundtrip", "ReallocGrowth")
    for m in ("track_instructions", "track_est_cycles")
]
# The stored history holds at least this many code commits for every flavour (issue 4).
MIN_COMMITS = 10
# Wall-time lines in ns/op (TIME_VERSION 2; make history BENCH=time_): the same commits.
WALL_TIME = [
    "bench_throughput.AllocPair.time_alloc_pair",
    "bench_throughput.ChurnBatch.time_churn_batch",
    "bench_raw.RawPair.time_raw_pair",
    "bench_realloc.ReallocGrowth.time_realloc_growth",
]
PYTHON = "3.11"  # the default CPython, on which every flavour has the full history
SHOTS = ROOT / "build" / "dashboard"


def _scratch_config(tmp_path):
    from asv import util

    conf = util.load_json(str(ROOT / "asv.conf.json"), js_comments=True)
    for key in ("repo", "benchmark_dir", "results_dir", "env_dir"):
        conf[key] = str((ROOT / conf[key]).resolve())
    conf["html_dir"] = str(tmp_path / "html")
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf))
    return path


def _serve(directory):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory))
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def landing_links(readme=None) -> list[str]:
    """The dashboard fragments (``#bench…``) linked from the README's landing section."""
    text = (readme or ROOT / "README.md").read_text()
    m = re.search(r"^### The dashboard at a glance.*?(?=^#)", text, re.M | re.S)
    assert m, "README has no section 'The dashboard at a glance'"
    return re.findall(r"\(http://127\.0\.0\.1:8080/(#[^)\s]+)\)", m.group(0))


def stored_commits(flavour: str) -> int:
    """Result files of ``flavour`` on PYTHON that hold every deterministic line."""
    n = 0
    for path in (ROOT / "results" / MACHINE).glob(f"*-py{PYTHON}-ALLOCBENCH_FLAVOUR{flavour}.json"):
        results = json.loads(path.read_text()).get("results", {})
        n += all(b in results for b in DETERMINISTIC)
    return n


def published_points(html, bench: str) -> dict[str, int]:
    """flavour -> commits with a value in asv's published graph data of ``bench``."""
    out = dict.fromkeys(FLAVOURS, 0)
    for path in (html / "graphs").rglob(f"{bench}.json"):
        parts = path.relative_to(html / "graphs").parts
        if f"python-{PYTHON}" not in parts:
            continue
        flavour = next(
            (p.split("-", 2)[2] for p in parts if p.startswith("env-ALLOCBENCH_FLAVOUR-")), None
        )
        if flavour in out:
            # [[revision, [value per parameter combination]], …]; null where none
            drawn = [
                v
                for _, v in json.loads(path.read_text())
                if any(x is not None for x in (v if isinstance(v, list) else [v]))
            ]
            out[flavour] = max(out[flavour], len(drawn))
    return out


def _publish(tmp_path):
    conf = _scratch_config(tmp_path)
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "asv_publish.py"), "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return tmp_path / "html"


def _driver():
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_bin):
        pytest.fail("Debian's chromium and chromium-driver are needed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver_bin), options=opts)


# The graph's series once flot has drawn them: [label, points drawn] each.
SERIES_JS = (
    "if (!window.$) return null;"
    "var p = $('#main-graph').data('plot');"
    "if (!p) return null;"
    "var s = p.getData().map(function (s) {"
    "  var drawn = s.data.filter(function (x) { return x[1] !== null; });"
    "  return [s.label || '', drawn.length];"
    "});"
    "return s.length ? s : null;"
)


def _open_graph(driver, url, shot=None):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")  # a new fragment alone would not reload the page
    driver.get(url)
    series = WebDriverWait(driver, 60).until(lambda d: d.execute_script(SERIES_JS))
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
    return series


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return _publish(tmp_path_factory.mktemp("asv"))


def test_the_deterministic_lines_hold_the_history_of_every_flavour(published):
    stored = {f: stored_commits(f) for f in FLAVOURS}
    assert all(n >= MIN_COMMITS for n in stored.values()), stored
    for bench in DETERMINISTIC:
        drawn = published_points(published, bench)
        assert all(n >= MIN_COMMITS for n in drawn.values()), (bench, drawn)


def test_the_wall_time_lines_hold_the_history_of_every_flavour(published):
    """The ns/op lines (version 2 of the time_ benchmarks: an older version is not drawn)."""
    for bench in WALL_TIME:
        drawn = published_points(published, bench)
        assert all(n >= MIN_COMMITS for n in drawn.values()), (bench, drawn)


def test_dashboard_draws_a_line_for_every_flavour(published):
    srv = _serve(published)
    driver = _driver()
    try:
        # asv keeps the graph's selection in the URL; p-<param> picks parameter values
        # (stored as their repr) and python= the interpreter, so the graph shows one
        # point on the default CPython: one line per flavour.
        sel = "&".join(f"p-{k}={urllib.parse.quote(repr(v))}" for k, v in PARAMS.items())
        url = f"http://127.0.0.1:{srv.server_address[1]}/#{BENCH}?{sel}&python={PYTHON}"
        series = _open_graph(driver, url, SHOTS / "deterministic-alloc_pair-64.png")
    finally:
        driver.quit()
        srv.shutdown()
    # Labels read "env-ALLOCBENCH_FLAVOUR-<flavour>" (then "; <param>-<value>" for any
    # parameter or environment key that the selection leaves open).
    drawn = {
        f: max(
            (n for label, n in series if re.search(f"ALLOCBENCH_FLAVOUR-{f}(;|$)", label)),
            default=0,
        )
        for f in FLAVOURS
    }
    assert all(n >= MIN_COMMITS for n in drawn.values()), (drawn, series)
    # Only the chosen point is drawn: one line per flavour, nothing else.
    assert len(series) == len(FLAVOURS), series


def test_the_landing_links_open_a_graph(published):
    links = landing_links()
    assert len(links) >= 4, links
    known = json.loads((ROOT / "results" / "benchmarks.json").read_text())
    srv = _serve(published)
    driver = _driver()
    try:
        for i, frag in enumerate(links):
            name = frag[1:].split("?", 1)[0]
            assert name in known, f"README links {name}, which is not a benchmark"
            url = f"http://127.0.0.1:{srv.server_address[1]}/{frag}"
            series = _open_graph(driver, url, SHOTS / f"landing-{i}.png")
            drawn = [n for _, n in series if n > 0]
            assert drawn, (frag, series)
    finally:
        driver.quit()
        srv.shutdown()
