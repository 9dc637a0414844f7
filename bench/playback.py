"""Playback start latency and segment throughput, with nginx in front as docs/nginx.conf ships.

Makes an embedded install in a temp dir and gets films onto it the platform's
own way: `kushfilms migrate`, `kushfilms create-admin`, then `kushfilms demo
--seconds 20`, which generates 14 clips (1280x720 test pictures with a tone),
stages them as uploads, transcodes each into the HLS ladder (360p, 480p, 720p)
and publishes them. Then it starts one `kushfilms serve` (KF_MEDIA_DELIVERY=nginx,
no worker) behind nginx running docs/nginx.conf, and drives it with wrk from a
separate process:

- playback start: each connection (one wrk thread each, so one Lua state
  follows one viewer) plays anonymous viewers of the FREE films one after
  another, `GET /api/movies/{slug}/playback`, then the master playlist it
  names, then the first media playlist in that, timing each step and the
  whole sequence. Twice: paced (each viewer pauses --pace-ms between starts,
  as people who start a film and then watch it; the latency target applies
  here) and flat out (no pause: the server's ceiling and its latency when
  saturated);
- segments: `GET` of every .m4s of every film and rung, with URLs signed
  beforehand (as an administrator, who may watch every rung).

Then it stops both and serves the same install with KF_MEDIA_DELIVERY=app
(uvicorn sends the files itself), alone, for the same two measurements.

    python bench/playback.py [--seconds 10] [--connections 32] [--pace-ms 1000]
                             [--film-seconds 20] [--database-url URL] [--json PATH]

Needs wrk and nginx (Debian: apt-get install wrk nginx-light). Prints latency
percentiles, segment requests/s and MB/s side by side, and peak RSS. The
segment load is closed-loop: each connection sends its next request as soon
as the last is answered.
"""

import argparse
import json
import math
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from bench.install import (
    ADMIN_EMAIL,
    ROOT,
    demo_install,
    fetch,
    free_port,
    serving,
    stop,
    wait_for_port,
)

SHIPPED_NGINX_CONF = ROOT / "docs" / "nginx.conf"
SEQUENCE_TARGET_MS = 15.0
STEPS = ("playback", "master", "media", "sequence")
STEP_NAMES = {
    "playback": "GET /api/movies/{slug}/playback",
    "master": "GET master.m3u8",
    "media": "GET <rung>/index.m3u8",
    "sequence": "whole sequence",
}


# -- nginx with the shipped config ---------------------------------------------------------


def nginx_site(shipped: str, *, upstream: str, port: int, media_dir: Path) -> str:
    """The shipped server block, pointed at this app, this port and this media directory.

    Plain substitutions of the example's own values: if one is no longer in the
    file, this fails rather than run a config that is not the shipped one.
    """
    replacements = {
        "server 127.0.0.1:8000;": f"server {upstream};",
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "alias /var/lib/kushfilms/media/;": f"alias {media_dir}/;",
    }
    for anchor, value in replacements.items():
        found = shipped.count(anchor)
        if found != 1:
            raise LookupError(
                f"docs/nginx.conf should contain `{anchor}` exactly once (found {found});"
                f" update the anchors in {Path(__file__).name} with the file"
            )
        shipped = shipped.replace(anchor, value)
    return shipped


def nginx_main_config(site: Path, run_dir: Path) -> str:
    """A minimal nginx.conf around the site, keeping every file nginx writes in ``run_dir``."""
    # As root, nginx would run its workers as nobody, who cannot read a private temp dir.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp_paths = "".join(
        f"    {kind}_temp_path {run_dir / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes auto;\n"
        f"pid {run_dir / 'nginx.pid'};\n"
        f"error_log {run_dir / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"    access_log {run_dir / 'access.log'};\n"
        f"{temp_paths}"
        f"    include {site};\n"
        "}\n"
    )


def local_media_dir(storage_url: str) -> Path:
    url = urlsplit(storage_url)
    if url.scheme != "file":
        raise ValueError(f"nginx serves media from a local directory, not {storage_url!r}")
    return Path(url.path)


@contextmanager
def running_nginx(
    *, upstream: str, port: int, media_dir: Path, run_dir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx with docs/nginx.conf in front of ``upstream``, listening on ``port``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    site = run_dir / "kushfilms.conf"
    site.write_text(
        nginx_site(
            SHIPPED_NGINX_CONF.read_text(), upstream=upstream, port=port, media_dir=media_dir
        )
    )
    config = run_dir / "nginx.conf"
    config.write_text(nginx_main_config(site, run_dir))
    error_log = run_dir / "error.log"
    command = [nginx_executable(), "-p", str(run_dir), "-e", str(error_log), "-c", str(config)]
    process = subprocess.Popen(
        [*command, "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process, lambda: error_log.read_text() if error_log.exists() else "")
        yield process
    finally:
        stop(process)


def nginx_executable() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise FileNotFoundError("nginx is needed: apt-get install nginx-light")
    return found


# -- the films -----------------------------------------------------------------------------


def uris(playlist: bytes) -> list[str]:
    return [line for line in playlist.decode().splitlines() if line and not line.startswith("#")]


@dataclass
class Catalogue:
    free_slugs: list[str]
    segment_paths: list[str]
    rungs: list[str]


def gather(port: int, password: str) -> Catalogue:
    """The FREE films' slugs, and signed URLs of every segment of every film and rung."""
    login = json.loads(
        fetch(port, "/api/auth/login", body={"email": ADMIN_EMAIL, "password": password})
    )
    token = login["access_token"]
    movies = json.loads(fetch(port, "/api/movies?page_size=100"))["items"]
    paths, rungs = [], set()
    for movie in movies:
        playback = json.loads(fetch(port, f"/api/movies/{movie['slug']}/playback", token=token))
        folder = playback["manifest_url"].rsplit("/", 1)[0]
        for variant in uris(fetch(port, playback["manifest_url"])):
            rung = variant.split("/")[0]
            rungs.add(rung)
            playlist = f"{folder}/{variant}"
            paths += [urljoin(playlist, name) for name in uris(fetch(port, playlist))]
    return Catalogue(
        free_slugs=[movie["slug"] for movie in movies if movie["access_level"] == "FREE"],
        segment_paths=paths,
        rungs=sorted(rungs, key=lambda name: int(name.removesuffix("p"))),
    )


def segment_sizes(media_dir: Path) -> list[int]:
    return [path.stat().st_size for path in media_dir.glob("videos/*/hls/*/seg_*.m4s")]


# -- load ----------------------------------------------------------------------------------

# wrk's Lua is LuaJIT: its FFI reads the monotonic clock, to time each step of a sequence.
LUA_CLOCK = """
local ffi = require("ffi")
ffi.cdef[[
struct kf_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct kf_timespec *now);
]]
local clock = ffi.new("struct kf_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1e6 + tonumber(clock.tv_nsec) / 1e3
end
"""

# One connection per wrk thread, so a thread's Lua state is one viewer walking
# the sequence: playback API, the master playlist it names, a media playlist.
START_SCRIPT = """
local slugs = __SLUGS__
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("first", #threads)
end

playback, master, media, sequence, failures = {}, {}, {}, {}, 0
local step, index, path, folder, sent, started = 1, 0, nil, nil, 0, 0

function init(args)
  index = first
  math.randomseed(first * 7919 + os.time())
end

-- A viewer who starts a film then watches it does not start another at once:
-- before each new sequence wait PACE ms on average, drawn at random (uniform
-- over 0..2*PACE) so that viewers do not all start in the same instant.
-- 0: back to back, the server's ceiling.
local pace = __PACE__

function delay()
  if step == 1 and pace > 0 then return math.random(0, 2 * pace) end
  return 0
end

function request()
  sent = now_us()
  if step == 1 then
    index = index % #slugs + 1
    started = sent
    return wrk.format("GET", "/api/movies/" .. slugs[index] .. "/playback")
  end
  return wrk.format("GET", path)
end

local function restart()
  failures = failures + 1
  step = 1
end

function response(status, headers, body)
  local now = now_us()
  if status ~= 200 then return restart() end
  if step == 1 then
    path = body:match('"manifest_url":"([^"]+)"')
    if not path then return restart() end
    folder = path:match("^(.*/)")
    playback[#playback + 1] = now - sent
    step = 2
  elseif step == 2 then
    local variant = body:match("\\n([^#\\r\\n][^\\r\\n]*)")
    if not variant then return restart() end
    path = folder .. variant
    master[#master + 1] = now - sent
    step = 3
  else
    media[#media + 1] = now - sent
    sequence[#sequence + 1] = now - started
    step = 1
  end
end

function done(summary, latency, requests)
  local out = io.open(__OUT__, "w")
  for _, thread in ipairs(threads) do
    for _, name in ipairs({"playback", "master", "media", "sequence"}) do
      for _, took in ipairs(thread:get(name)) do
        out:write(name, " ", string.format("%.1f", took), "\\n")
      end
    end
    out:write("failures ", thread:get("failures"), "\\n")
  end
  out:write("duration ", summary.duration, "\\n")
  out:close()
end
"""

SEGMENTS_SCRIPT = """
local paths = __PATHS__
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("first", #threads * 7919)
end

local index = 0

function init(args)
  index = first
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "bytes": %d, "duration_us": %d, "errors": %d, '
    .. '"p50": %f, "p95": %f, "p99": %f}\\n',
    summary.requests, summary.bytes, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""
WARM_UP_SECONDS = 3


def lua_list(values: list[str]) -> str:
    return "{\n" + ",\n".join(json.dumps(value) for value in values) + "\n}"


def wrk(script: Path, port: int, *, seconds: int, connections: int, threads: int) -> str:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    done = subprocess.run(
        [*command, "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"wrk failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def percentile(ordered: list[float], percent: float) -> float:
    """Nearest rank, of values sorted already."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


@dataclass
class Step:
    name: str
    count: int
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass
class Start:
    where: str
    steps: list[Step]
    failures: int

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)


@dataclass
class Segments:
    where: str
    requests_per_second: float
    mb_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def measure_start(
    where: str, port: int, slugs: list[str], args: Any, tmp: Path, *, pace_ms: int = 0
) -> Start:
    samples_file = tmp / "start-samples.txt"
    script = tmp / "start.lua"
    script.write_text(
        LUA_CLOCK
        + START_SCRIPT.replace("__SLUGS__", lua_list(slugs))
        .replace("__OUT__", json.dumps(str(samples_file)))
        .replace("__PACE__", str(pace_ms))
    )
    connections = args.connections
    for seconds in (WARM_UP_SECONDS, args.seconds):
        wrk(script, port, seconds=seconds, connections=connections, threads=connections)
    samples: dict[str, list[float]] = {name: [] for name in STEPS}
    failures, duration = 0, 1.0
    for line in samples_file.read_text().splitlines():
        name, value = line.split()
        if name == "failures":
            failures += int(value)
        elif name == "duration":
            duration = int(value) / 1e6
        else:
            samples[name].append(float(value) / 1000)
    steps = []
    for name in STEPS:
        ordered = sorted(samples[name])
        steps.append(
            Step(
                name=name,
                count=len(ordered),
                per_second=len(ordered) / duration,
                p50_ms=percentile(ordered, 50),
                p95_ms=percentile(ordered, 95),
                p99_ms=percentile(ordered, 99),
            )
        )
    return Start(where=where, steps=steps, failures=failures)


def measure_segments(where: str, port: int, paths: list[str], args: Any, tmp: Path) -> Segments:
    script = tmp / "segments.lua"
    script.write_text(SEGMENTS_SCRIPT.replace("__PATHS__", lua_list(paths)))
    # Two wrk threads, so that reading the bytes is not the load generator's limit.
    threads = min(2, args.connections)
    wrk(script, port, seconds=WARM_UP_SECONDS, connections=args.connections, threads=threads)
    output = wrk(script, port, seconds=args.seconds, connections=args.connections, threads=threads)
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    seconds = data["duration_us"] / 1e6
    return Segments(
        where=where,
        requests_per_second=data["requests"] / seconds,
        mb_per_second=data["bytes"] / seconds / 1e6,
        p50_ms=data["p50"] / 1000,
        p95_ms=data["p95"] / 1000,
        p99_ms=data["p99"] / 1000,
        errors=data["errors"],
    )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def nginx_rss_mib(master: int) -> float:
    """The peak RSS of nginx's master and workers, added up."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sum(peak_rss_mib(pid) for pid in [master, *map(int, children)])


# -- the run -------------------------------------------------------------------------------


@dataclass
class Report:
    films: int
    free_films: int
    segments: int
    mean_segment_kib: float
    rungs: list[str]
    starts: list[Start]
    segment_runs: list[Segments]
    peak_rss_mib: dict[str, float]


def run(args: Any, tmp: Path) -> Report:
    install = demo_install(tmp, film_seconds=args.film_seconds, database_url=args.database_url)
    env, password, media_dir = install.env, install.password, install.media_dir
    starts, segment_runs, rss = [], [], {}

    with serving(env, "nginx") as (app_port, app):
        port = free_port()
        with running_nginx(
            upstream=f"127.0.0.1:{app_port}", port=port, media_dir=media_dir, run_dir=tmp / "nginx"
        ) as nginx:
            catalogue = gather(port, password)
            print("Measuring through nginx (KF_MEDIA_DELIVERY=nginx) ...", flush=True)
            starts.append(
                measure_start(
                    "nginx, paced", port, catalogue.free_slugs, args, tmp, pace_ms=args.pace_ms
                )
            )
            starts.append(measure_start("nginx, flat out", port, catalogue.free_slugs, args, tmp))
            segment_runs.append(
                measure_segments(
                    "nginx (X-Accel-Redirect)", port, catalogue.segment_paths, args, tmp
                )
            )
            rss["app server behind nginx"] = peak_rss_mib(app.pid)
            rss["nginx, master and workers"] = nginx_rss_mib(nginx.pid)

    with serving(env, "app") as (port, app):
        print("Measuring the app alone (KF_MEDIA_DELIVERY=app) ...", flush=True)
        segment_runs.insert(
            0,
            measure_segments(
                "app (uvicorn FileResponse)", port, catalogue.segment_paths, args, tmp
            ),
        )
        starts.append(measure_start("app alone", port, catalogue.free_slugs, args, tmp))
        rss["app server alone"] = peak_rss_mib(app.pid)

    sizes = segment_sizes(media_dir)
    return Report(
        films=len({path.split("/")[2] for path in catalogue.segment_paths}),
        free_films=len(catalogue.free_slugs),
        segments=len(catalogue.segment_paths),
        mean_segment_kib=sum(sizes) / len(sizes) / 1024,
        rungs=catalogue.rungs,
        starts=starts,
        segment_runs=segment_runs,
        peak_rss_mib=rss,
    )


def print_report(report: Report, args: Any) -> None:
    print(
        f"\n{report.films} films of {args.film_seconds:g} s ({', '.join(report.rungs)}),"
        f" {report.free_films} of them FREE; {args.connections} connections,"
        f" {args.seconds} s per measurement after {WARM_UP_SECONDS} s of warm-up;"
        f" database: {'custom' if args.database_url else 'SQLite'}"
    )
    print(
        f"\nplayback start, anonymous viewers of FREE films, {args.connections} at once"
        f" (paced: each pauses {args.pace_ms} ms on average between starts; flat out: no pause)"
    )
    print(f"{'':<16}{'step':<34}{'per s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for start in report.starts:
        for step in start.steps:
            print(
                f"{start.where:<16}{STEP_NAMES[step.name]:<34}{step.per_second:>8.0f}"
                f"{step.p50_ms:>9.2f}{step.p95_ms:>9.2f}{step.p99_ms:>9.2f}"
            )
        if start.failures:
            print(f"{start.where:<16}{start.failures} sequences broken off by an error")
    print(
        f"\nsegments: {report.segments} distinct .m4s across films and rungs,"
        f" {report.mean_segment_kib:.0f} KiB on average"
    )
    print(
        f"{'served by':<28}{'req/s':>9}{'MB/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  errors"
    )
    for run in report.segment_runs:
        print(
            f"{run.where:<28}{run.requests_per_second:>9.0f}{run.mb_per_second:>9.0f}"
            f"{run.p50_ms:>9.2f}{run.p95_ms:>9.2f}{run.p99_ms:>9.2f}{run.errors:>8}"
        )
    app, nginx = report.segment_runs
    ratio = nginx.requests_per_second / app.requests_per_second
    print(f"{'nginx / app':<28}{ratio:>8.1f}x{nginx.mb_per_second / app.mb_per_second:>8.1f}x")
    print(
        "\npeak RSS: "
        + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in report.peak_rss_mib.items())
    )
    paced, flat_out = report.starts[0].step("sequence"), report.starts[1].step("sequence")
    met = "met" if paced.p95_ms < SEQUENCE_TARGET_MS else "MISSED"
    print(
        f"\nverdict: playback start through nginx, {args.connections} viewers each starting a"
        f" film every {args.pace_ms} ms on average ({paced.per_second:.0f} starts/s),"
        f" p95 of the whole sequence {paced.p95_ms:.1f} ms: {met}"
        f" (target under {SEQUENCE_TARGET_MS:.0f} ms)"
    )
    print(
        f"ceiling: back to back, one process starts {flat_out.per_second:.0f} playbacks/s"
        f" (p95 {flat_out.p95_ms:.1f} ms while saturated)"
    )
    faster = "met" if ratio > 1 else "MISSED"
    print(
        f"verdict: segments through nginx at {ratio:.1f}x the app's rate:"
        f" {faster} (target: media does not flow through Python, so nginx outpaces the app)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--connections", type=int, default=32, help="concurrent viewers")
    parser.add_argument(
        "--pace-ms", type=int, default=1000, help="pause of each viewer between playback starts"
    )
    parser.add_argument("--film-seconds", type=float, default=20, help="length of each film")
    parser.add_argument(
        "--database-url", default="", help="an empty database (default: SQLite in the temp dir)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    nginx_executable()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill too, as on Ctrl+C
    tmp = Path(tempfile.mkdtemp(prefix="kf-bench-playback-"))
    try:
        report = run(args, tmp)
    except KeyboardInterrupt:
        raise SystemExit("interrupted; servers stopped and temp files removed") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_report(report, args)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))


if __name__ == "__main__":
    main()
