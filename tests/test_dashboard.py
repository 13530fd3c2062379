"""The asv dashboard, published from the committed results/ and opened in headless
Chromium: one benchmark's graph, narrowed to one point, draws a line for every flavour
across the stored history (at least MIN_COMMITS commits each)."""

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest
from helpers import FLAVOURS, ROOT

MACHINE = "rust-pyo3"
BENCH = "bench_throughput.AllocPair.time_alloc_pair"
POINT = "alloc_pair[size=64]"
# The stored history holds at least this many code commits for every flavour (issue 4).
MIN_COMMITS = 10
PYTHON = "3.11"  # the default CPython, on which every flavour has the full history


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


def test_dashboard_draws_a_line_for_every_flavour(tmp_path):
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_bin):
        pytest.fail("Debian's chromium and chromium-driver are needed (.ci/run installs them)")
    stored = {
        f: sorted((ROOT / "results" / MACHINE).glob(f"*-py{PYTHON}-ALLOCBENCH_FLAVOUR{f}.json"))
        for f in FLAVOURS
    }
    assert all(len(v) >= MIN_COMMITS for v in stored.values()), {
        f: len(v) for f, v in stored.items()
    }

    conf = _scratch_config(tmp_path)
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "asv_publish.py"), "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    srv = _serve(tmp_path / "html")
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
    driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
    try:
        # asv keeps the graph's selection in the URL; p-<param> picks parameter values
        # (stored as their repr) and python= the interpreter, so the graph shows one
        # point on the default CPython: one line per flavour.
        point = urllib.parse.quote(repr(POINT))
        url = f"http://127.0.0.1:{srv.server_address[1]}/#{BENCH}?p-point={point}&python={PYTHON}"
        driver.get(url)
        series = WebDriverWait(driver, 60).until(
            lambda d: d.execute_script(
                "if (!window.$) return null;"
                "var p = $('#main-graph').data('plot');"
                "if (!p) return null;"
                "var s = p.getData().map(function (s) {"
                "  var drawn = s.data.filter(function (x) { return x[1] !== null; });"
                "  return [s.label || '', drawn.length];"
                "});"
                "return s.length ? s : null;"
            )
        )
        shot = ROOT / "build" / "dashboard.png"
        shot.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
        srv.shutdown()
    # Labels read "env-ALLOCBENCH_FLAVOUR-<flavour>; point-<catalogue label>[; python-X]".
    drawn = {
        f: max(
            (
                n
                for label, n in series
                if f"ALLOCBENCH_FLAVOUR-{f};" in label and f"point-{POINT}" in label
            ),
            default=0,
        )
        for f in FLAVOURS
    }
    assert all(n >= MIN_COMMITS for n in drawn.values()), (drawn, series)
    # Only the chosen point is drawn: one line per flavour, nothing else.
    assert len(series) == len(FLAVOURS), series
