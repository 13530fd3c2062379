"""`asv publish`, made to work without the internet.

asv 0.6's pages load jQuery, flot, bootstrap, md5 and stupidtable from CDNs, which these
machines cannot reach. asv 0.5.1 shipped the same libraries in its sdist (asv/www/vendor):
this script fetches that sdist from PyPI once (pip download, cached in build/), copies the
files next to the published site and points the pages at them.

Usage: python tools/asv_publish.py [--config CONF] [--html-dir DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "asv-vendor"
# CDN file name -> file in asv 0.5.1's www/vendor
VENDOR = {
    "jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "flot/0.8.3/jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "flot/0.8.3/jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "flot/0.8.3/jquery.flot.selection.min.js": "jquery.flot-0.8.3.selection.min.js",
    "flot/0.8.3/jquery.flot.categories.min.js": "jquery.flot-0.8.3.categories.min.js",
    "jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "stupidtable.min.js": "stupidtable.js",
    "md5.min.js": "md5.js",
    "bootstrap.min.js": "bootstrap-3.1.0.min.js",
    "bootstrap.min.css": "bootstrap-3.1.0.min.css",
}
CDN_TAG = re.compile(r'(src|href)="(https://[^"]+)"([^>]*)>')


def vendor_files() -> Path:
    """asv 0.5.1's www/vendor directory, fetched from PyPI on first use."""
    target = CACHE / "vendor"
    if (target / "jquery-3.3.1.min.js").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            "asv==0.5.1",
            "-d",
            str(CACHE),
        ],
        check=True,
    )
    with tarfile.open(CACHE / "asv-0.5.1.tar.gz") as tar:
        for m in tar.getmembers():
            if "/asv/www/vendor/" in m.name and m.isfile():
                m.name = Path(m.name).name
                tar.extract(m, target, filter="data")
    return target


def localise(html_dir: Path) -> int:
    """Rewrites CDN references of every page to vendor/; returns how many were rewritten."""
    src = vendor_files()
    shutil.copytree(src, html_dir / "vendor", dirs_exist_ok=True)
    count = 0

    def repl(m: re.Match) -> str:
        nonlocal count
        url = m.group(2)
        for cdn, local in VENDOR.items():
            if url.endswith(cdn):
                count += 1
                rest = re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", m.group(3))
                return f'{m.group(1)}="vendor/{local}"{rest}>'
        return m.group(0)

    for page in html_dir.glob("*.html"):
        page.write_text(CDN_TAG.sub(repl, page.read_text()))
    return count


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="asv_publish")
    ap.add_argument("--config", default=str(ROOT / "asv.conf.json"))
    ap.add_argument("--html-dir", default=None, help="defaults to the config's html_dir")
    a = ap.parse_args(argv)
    cmd = [sys.executable, "-m", "asv", "--config", a.config, "publish"]
    if a.html_dir:
        cmd += ["--html-dir", a.html_dir]
    subprocess.run(cmd, check=True, cwd=ROOT)
    from asv import util

    html = a.html_dir or util.load_json(a.config, js_comments=True)["html_dir"]
    html_dir = (Path(a.config).resolve().parent / html).resolve()
    n = localise(html_dir)
    print(f"published {html_dir} ({n} CDN references served locally)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
