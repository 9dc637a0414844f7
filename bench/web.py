"""The web pages in headless Chromium: a film's start on the watch page, page weight, / on 3G.

Makes a demo install (bench/install.py: `kushfilms demo --seconds 10`, 14 films,
eight of them FREE), serves it with one `kushfilms serve`, and drives Debian's
Chromium through Playwright:

- start: from navigation start to the video's first `playing` event on
  /watch/{slug}, for an anonymous viewer of the FREE films in turn, each load in
  a fresh browser context (empty cache) with autoplay allowed; p50 and p95 over
  --loads loads. Baseline, alternating with it in the same run: a bare page
  (only hls.js and a <video>, served from a tiny local server) playing the same
  signed master.m3u8 the playback API hands out.
- weight: bytes transferred (as DevTools counts them: compressed bodies and
  their headers) for / and /movies on a first visit, by resource type, without
  images and media.
- 3G: time to the load event of / with the network emulated through the
  DevTools protocol (1.6 Mbit/s down, 750 kbit/s up, 300 ms latency), empty
  cache, median of --slow-loads loads; baseline: /health under the same
  conditions, one request and nothing else.

    python bench/web.py [--loads 20] [--slow-loads 3] [--film-seconds 10]
                        [--json PATH] [--screenshots [DIR]] [--no-figures]

--screenshots also saves the README's screenshots (default: docs/): the home
page and the watch page (playing, controls and quality menu showing) on a
1280x800 desktop, the admin's film editor with its upload area, and /movies on
a 375x812 phone.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from bench.install import ADMIN_EMAIL, ROOT, Install, demo_install, fetch, serving
from bench.playback import percentile
from kushfilms.web.assets import Assets
from tests.e2e.chromium import CHROMIUM, CHROMIUM_FLAGS

# The player calls video.play() on load, as a viewer who clicked a film expects.
FLAGS = [*CHROMIUM_FLAGS, "--autoplay-policy=no-user-gesture-required"]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 812}
START_TARGET_MS = 1500.0
WEIGHT_TARGET_KB = 250.0  # KB of 1,000 bytes
SLOW_TARGET_S = 5.0
SLOW_3G = {
    "offline": False,
    "latency": 300,  # ms
    "downloadThroughput": 200_000,  # bytes/s: 1.6 Mbit/s
    "uploadThroughput": 93_750,  # 750 kbit/s
}
WEIGHED_PAGES = ("/", "/movies")
EXCLUDED_TYPES = {"Image", "Media"}
# Media events do not bubble, so the listener captures; performance.now() counts
# from the navigation's start.
FIRST_PLAYING = (
    "document.addEventListener('playing',"
    " () => { window.kfFirstPlaying ??= performance.now(); }, { capture: true });"
)
# The load event's end (s), and the KB transferred by then, all and <img> only.
LOAD_FIGURES = """() => {
  const [nav] = performance.getEntriesByType("navigation");
  const before = performance.getEntriesByType("resource")
    .filter((entry) => entry.responseEnd <= nav.loadEventEnd);
  const kb = (entries) => entries.reduce((sum, entry) => sum + entry.transferSize, 0) / 1000;
  const images = before.filter((entry) => entry.initiatorType === "img");
  return [nav.loadEventEnd / 1000, kb([nav, ...before]), kb(images)];
}"""
BARE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hls.js alone</title></head>
<body>
<video id="video" playsinline data-manifest="{manifest}"></video>
<script src="{hls}"></script>
<script>
  const video = document.getElementById("video");
  const hls = new Hls();
  hls.loadSource(video.dataset.manifest);
  hls.attachMedia(video);
  video.play();
</script>
</body></html>
"""


# -- what is measured ----------------------------------------------------------------------


@dataclass
class Starts:
    page: str
    samples_ms: list[float]
    p50_ms: float
    p95_ms: float

    @classmethod
    def of(cls, page: str, samples_ms: list[float]) -> "Starts":
        ordered = sorted(samples_ms)
        return cls(page, samples_ms, percentile(ordered, 50), percentile(ordered, 95))


@dataclass
class Weight:
    page: str
    total_kb: float  # what is counted: all but images and media
    requests: int
    kb_by_type: dict[str, float]
    uncompressed_kb: float
    not_counted_kb: dict[str, float]


@dataclass
class SlowLoad:
    seconds: float  # navigation start to the end of the load event
    kb: float  # transferred by then
    image_kb: float  # of which <img> files


@dataclass
class SlowLoads:
    page: str
    loads: list[SlowLoad]
    median_s: float

    @classmethod
    def of(cls, page: str, loads: list[SlowLoad]) -> "SlowLoads":
        return cls(page, loads, statistics.median(load.seconds for load in loads))


@contextmanager
def fresh_context(
    browser: Browser, viewport: ViewportSize = DESKTOP, **options: Any
) -> Iterator[BrowserContext]:
    """A context of its own: no cache, no cookies, nothing left from the last load."""
    context = browser.new_context(viewport=viewport, **options)
    try:
        yield context
    finally:
        context.close()


def first_playing_ms(browser: Browser, url: str) -> float:
    with fresh_context(browser) as context:
        context.add_init_script(FIRST_PLAYING)
        page = context.new_page()
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.kfFirstPlaying !== undefined", timeout=20_000)
        return float(page.evaluate("window.kfFirstPlaying"))


def measure_starts(
    browser: Browser, base: str, bare: str, hls: str, manifests: dict[str, str], loads: int
) -> tuple[Starts, Starts]:
    """Our watch page and the bare page in turn, on the same films, after one of each unseen."""
    ours: list[float] = []
    baseline: list[float] = []
    slugs = list(manifests)
    for number in range(loads + 1):
        slug = slugs[number % len(slugs)]
        runs = [
            (ours, f"{base}/watch/{slug}"),
            (baseline, bare_url(bare, hls=base + hls, manifest=base + manifests[slug])),
        ]
        if number % 2:  # neither always goes first
            runs.reverse()
        for starts, url in runs:
            took = first_playing_ms(browser, url)
            if number:  # the first round warms the server and the browser
                starts.append(took)
        if number:
            print(
                f"  load {number}: {slug}: {ours[-1]:.0f} ms (bare {baseline[-1]:.0f} ms)",
                flush=True,
            )
    return Starts.of("/watch/{slug}", ours), Starts.of("hls.js alone", baseline)


def resource_kind(resource_type: str) -> str:
    return "xhr/fetch" if resource_type in ("XHR", "Fetch") else resource_type.lower()


def page_weight(browser: Browser, base: str, path: str) -> Weight:
    types: dict[str, str] = {}
    decoded: dict[str, int] = defaultdict(int)
    counted: dict[str, int] = defaultdict(int)
    excluded: dict[str, int] = defaultdict(int)
    counted_decoded, requests = 0, 0

    def on_response(event: dict[str, Any]) -> None:
        mime = event["response"].get("mimeType", "")
        excluded_by_mime = mime.startswith(("image/", "video/", "audio/"))
        types[event["requestId"]] = "Image" if excluded_by_mime else event.get("type", "Other")

    def on_data(event: dict[str, Any]) -> None:
        decoded[event["requestId"]] += event["dataLength"]

    def on_finished(event: dict[str, Any]) -> None:
        nonlocal counted_decoded, requests
        kind = types.get(event["requestId"], "Other")
        if kind in EXCLUDED_TYPES:
            excluded[resource_kind(kind)] += int(event["encodedDataLength"])
        else:
            counted[resource_kind(kind)] += int(event["encodedDataLength"])
            counted_decoded += decoded[event["requestId"]]
            requests += 1

    with fresh_context(browser) as context:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.on("Network.responseReceived", on_response)
        cdp.on("Network.dataReceived", on_data)
        cdp.on("Network.loadingFinished", on_finished)
        cdp.send("Network.enable")
        page.goto(base + path, wait_until="networkidle")
    return Weight(
        page=path,
        total_kb=sum(counted.values()) / 1000,
        requests=requests,
        kb_by_type={kind: size / 1000 for kind, size in sorted(counted.items(), key=by_size)},
        uncompressed_kb=counted_decoded / 1000,
        not_counted_kb={kind: size / 1000 for kind, size in sorted(excluded.items(), key=by_size)},
    )


def by_size(item: tuple[str, int]) -> int:
    return -item[1]


def slow_load(browser: Browser, url: str) -> SlowLoad:
    with fresh_context(browser) as context:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        page.goto(url, wait_until="load", timeout=60_000)
        seconds, kb, image_kb = page.evaluate(LOAD_FIGURES)
        return SlowLoad(seconds=seconds, kb=kb, image_kb=image_kb)


def measure_slow(browser: Browser, base: str, path: str, loads: int) -> SlowLoads:
    return SlowLoads.of(path, [slow_load(browser, base + path) for _ in range(loads)])


# -- the bare page -------------------------------------------------------------------------


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser context closed mid-answer (the /favicon.ico, say) is no error of ours.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def bare_url(origin: str, *, hls: str, manifest: str) -> str:
    return f"{origin}/?{urlencode({'hls': hls, 'manifest': manifest})}"


@contextmanager
def bare_page_server() -> Iterator[str]:
    """Serves BARE_PAGE for the hls.js and playlist URLs in its query; yields its origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            if not {"hls", "manifest"} <= query.keys():  # the browser's /favicon.ico, say
                self.send_error(404)
                return
            body = BARE_PAGE.format(
                hls=escape(query["hls"][0]), manifest=escape(query["manifest"][0])
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- screenshots ---------------------------------------------------------------------------


def by_slug(film: dict[str, Any]) -> str:
    return str(film["slug"])


def save_png(page: Page, path: Path) -> None:
    """A viewport screenshot in 256 colours, dithered: about half the size, gradients intact."""
    page.screenshot(path=path)
    with Image.open(path) as image:
        colours = image.convert("RGB")
    palette = colours.quantize(256, method=Image.Quantize.MEDIANCUT)
    colours.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"  {shown} ({path.stat().st_size / 1000:.0f} KB)", flush=True)


def take_screenshots(
    browser: Browser, port: int, install: Install, films: list[dict[str, Any]], out: Path
) -> None:
    base = f"http://127.0.0.1:{port}"
    out.mkdir(parents=True, exist_ok=True)
    print(f"Screenshots into {out} ...", flush=True)
    # The same film every run, whichever the home page happens to feature.
    free = min((film for film in films if film["access_level"] == "FREE"), key=by_slug)
    with fresh_context(browser) as context:
        page = context.new_page()
        page.goto(base + "/", wait_until="networkidle")
        save_png(page, out / "screenshot-home.png")

        page.goto(f"{base}/watch/{free['slug']}", wait_until="networkidle")
        page.wait_for_function("() => document.getElementById('player-video').currentTime > 2.5")
        player = page.get_by_test_id("player")
        player.hover()
        quality = page.locator("#player-quality")
        if quality.is_visible():
            quality.click()
        page.wait_for_timeout(400)
        save_png(page, out / "screenshot-watch.png")

    with fresh_context(browser) as context:
        page = context.new_page()
        page.goto(base + "/login")
        page.fill("#field-email", ADMIN_EMAIL)
        page.fill("#field-password", install.password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.goto(f"{base}/admin/movies/{free['id']}/edit", wait_until="networkidle")
        page.locator(".uppy-Dashboard").wait_for()
        page.get_by_test_id("video-upload").scroll_into_view_if_needed()
        save_png(page, out / "screenshot-admin-upload.png")

    with fresh_context(browser, PHONE, is_mobile=True, has_touch=True) as context:
        page = context.new_page()
        page.goto(base + "/movies", wait_until="networkidle")
        save_png(page, out / "screenshot-phone.png")


# -- the run -------------------------------------------------------------------------------


@dataclass
class Report:
    date: str
    chromium: str
    load_average: float  # 1 min, before the run (the demo's transcoding raises it)
    films: int
    free_films: int
    film_seconds: float
    starts: list[Starts]
    weights: list[Weight]
    slow: list[SlowLoads]


def measure(
    browser: Browser,
    port: int,
    bare: str,
    films: list[dict[str, Any]],
    args: Any,
    load_average: float,
) -> Report:
    base = f"http://127.0.0.1:{port}"
    free = [film["slug"] for film in films if film["access_level"] == "FREE"]
    # Signed for an anonymous viewer, as the watch page would sign them.
    manifests = {
        slug: json.loads(fetch(port, f"/api/movies/{slug}/playback"))["manifest_url"]
        for slug in free
    }
    print(f"Start to playing, {args.loads} loads of each page ...", flush=True)
    hls = Assets().url("vendor/hls.min.js")
    starts = list(measure_starts(browser, base, bare, hls, manifests, args.loads))
    print("Page weight ...", flush=True)
    weights = [page_weight(browser, base, path) for path in WEIGHED_PAGES]
    print(f"3G, {args.slow_loads} loads of each page ...", flush=True)
    slow = [measure_slow(browser, base, path, args.slow_loads) for path in ("/", "/health")]
    return Report(
        date=date.today().isoformat(),
        chromium=browser.version,
        load_average=load_average,
        films=len(films),
        free_films=len(free),
        film_seconds=args.film_seconds,
        starts=starts,
        weights=weights,
        slow=slow,
    )


def verdict(value: float, target: float) -> str:
    return "met" if value < target else "NOT MET"


def kb_list(sizes: dict[str, float]) -> str:
    return ", ".join(f"{kind} {size:.1f}" for kind, size in sizes.items()) or "nothing"


def print_report(report: Report) -> None:
    ours, bare = report.starts
    print(
        f"\n{report.films} films of {report.film_seconds:g} s, {report.free_films} of them FREE;"
        f" Chromium {report.chromium}, headless, loopback;"
        f" load average before the run {report.load_average:.2f} (1 min)"
    )
    print(
        f"\nstart: navigation start to the first 'playing' event, {len(ours.samples_ms)} loads"
        " of each page alternating, each in a fresh browser context"
    )
    print(f"{'page':<26}{'p50 ms':>9}{'p95 ms':>9}{'min ms':>9}{'max ms':>9}")
    for starts in report.starts:
        print(
            f"{starts.page:<26}{starts.p50_ms:>9.0f}{starts.p95_ms:>9.0f}"
            f"{min(starts.samples_ms):>9.0f}{max(starts.samples_ms):>9.0f}"
        )
    ratios = f"{ours.p50_ms / bare.p50_ms:>8.2f}x{ours.p95_ms / bare.p95_ms:>8.2f}x"
    print(f"{'ours / bare':<26}{ratios}")

    print("\nweight: first visit, bytes transferred (headers included), KB of 1,000 bytes")
    for weight in report.weights:
        print(
            f"{weight.page:<8}{weight.total_kb:>7.1f} KB in {weight.requests} requests"
            f" ({kb_list(weight.kb_by_type)}); uncompressed {weight.uncompressed_kb:.1f} KB;"
            f" not counted: {kb_list(weight.not_counted_kb)}"
        )

    print("\n3G (1.6 Mbit/s down, 750 kbit/s up, 300 ms latency): navigation start to load event")
    for slow in report.slow:
        runs = ", ".join(
            f"{load.seconds:.2f} s after {load.kb:.1f} KB (images {load.image_kb:.1f})"
            for load in slow.loads
        )
        print(f"{slow.page:<8} median {slow.median_s:.2f} s: {runs}")
    page, floor = report.slow
    print(f"{'/ ÷ /health':<8} {page.median_s / floor.median_s:.1f}x")

    figures = [
        ("start to playing on /watch, p95", ours.p95_ms, START_TARGET_MS, "ms", 0),
        *(
            (
                f"weight of {weight.page}, no images or video",
                weight.total_kb,
                WEIGHT_TARGET_KB,
                "KB",
                1,
            )
            for weight in report.weights
        ),
        ("load of / on 3G, median", page.median_s, SLOW_TARGET_S, "s", 2),
    ]
    print(f"\n{'figure':<44}{'value':>10}  {'target':<12}verdict")
    for name, value, target, unit, digits in figures:
        shown, limit = f"{value:.{digits}f} {unit}", f"< {target:g} {unit}"
        print(f"{name:<44}{shown:>10}  {limit:<12}{verdict(value, target)}")


def run(args: Any, tmp: Path) -> Report | None:
    load_average = os.getloadavg()[0]
    install = demo_install(tmp, film_seconds=args.film_seconds)
    report = None
    with bare_page_server() as bare:
        # The bare page fetches the playlists and segments from the app's origin.
        env = {**install.env, "KF_CORS_ORIGINS": bare}
        with serving(env, "app") as (port, _server), sync_playwright() as playwright:
            films = json.loads(fetch(port, "/api/movies?page_size=100"))["items"]
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                if args.figures:
                    report = measure(browser, port, bare, films, args, load_average)
                if args.screenshots:
                    take_screenshots(browser, port, install, films, args.screenshots)
            finally:
                browser.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=20, help="watch page loads (and bare ones)")
    parser.add_argument("--slow-loads", type=int, default=3, help="loads of each page on 3G")
    parser.add_argument("--film-seconds", type=float, default=10, help="length of each film")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--screenshots",
        type=Path,
        nargs="?",
        const=ROOT / "docs",
        help="also save the README's screenshots, into this directory (default: docs/)",
    )
    parser.add_argument(
        "--figures",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure (--no-figures with --screenshots: only the screenshots)",
    )
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is needed: apt-get install chromium")
    if not (args.figures or args.screenshots):
        parser.error("nothing to do: --no-figures without --screenshots")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill too, as on Ctrl+C
    tmp = Path(tempfile.mkdtemp(prefix="kf-bench-web-"))
    try:
        report = run(args, tmp)
    except KeyboardInterrupt:
        raise SystemExit("interrupted; server stopped and temp files removed") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if report is None:
        return
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))


if __name__ == "__main__":
    main()
