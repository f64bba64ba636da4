"""Screenshots of the viewer for the README: the index and a clip page, in headless Chromium.

    python benchmarks/view_screenshots.py                   # builds the shipped sample (portable)
    python benchmarks/view_screenshots.py --from out/paqa   # an existing build
    python benchmarks/view_screenshots.py --to docs/img     # where the PNGs go (default)

Renders the viewer into a temporary folder, opens the index, then the page of the clip whose chains
quote the most speaker lines, clicks the first span of a speaker line in a chain (so the played span shows on the
lanes) and writes ``view_index.png`` and ``view_clip.png``. Fails if the browser logged an error.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from", dest="src", help="an existing build (default: build examples/audioset_sample)")
    p.add_argument("--to", default=str(REPO / "docs" / "img"), help="folder for the PNG files")
    args = p.parse_args()
    from paqa_builder.view.headless import Browser
    from paqa_builder.view.site import render_site

    to = Path(args.to)
    to.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="paqa-view-shots-") as tmp:
        src = Path(args.src) if args.src else Path(tmp) / "paqa"
        if not args.src:
            subprocess.run([sys.executable, "-m", "paqa_builder.cli", "--source",
                            str(REPO / "examples" / "audioset_sample"), "--out", str(src), "--no-progress"],
                           check=True, stdout=subprocess.DEVNULL)
        site = Path(tmp) / "view"
        render_site(src, site, progress=False)
        # the page whose chains quote the most speaker lines (then: most diarized speakers)
        pages = sorted(site.glob("clips/*/*.html"))
        page = max(pages, key=lambda f: (len(re.findall(r'Speaker \d+ <a class="span"', f.read_text())),
                                         f.read_text().count('class="lane speaker')))
        with Browser(width=1280, height=900) as b:
            b.open(site / "index.html")
            time.sleep(0.5)
            b.screenshot(to / "view_index.png")
            b.open(page)
            b.evaluate("(() => { const a = [...document.querySelectorAll('pre.chain a.span')]"
                       ".find(x => /Speaker \\d+ $/.test((x.previousSibling || {}).textContent || ''))"
                       " || document.querySelector('a.span');"
                       " if (a) { a.id = 'shot-span'; } })()")
            if b.evaluate("!!document.getElementById('shot-span')"):
                b.click("#shot-span")
                time.sleep(0.4)
            b.evaluate("window.scrollTo(0, 0)")
            time.sleep(0.2)
            b.screenshot(to / "view_clip.png")
            if b.errors:
                print("browser errors:", *b.errors, sep="\n  ", file=sys.stderr)
                return 1
    print(f"wrote {to / 'view_index.png'} and {to / 'view_clip.png'} (clip {page.stem})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
