"""Ingest: a film's whole trip through the platform, against ffmpeg alone doing its ladder.

Starts one `kushfilms serve` (SQLite in a temp dir, with its built-in worker) and,
for each clip, alternates round by round

- pipeline: a tus upload over HTTP, attaching it to a new movie, then polling the
  admin API until the video is ready (its ``ready_at`` stops the clock, so the
  polling interval adds nothing);
- bare: the command the worker runs (``ladder_command`` for the same probe and
  plan: every rung, the sprite sheets and the poster candidates), run directly.

Prints the median wall time of each, its realtime factor (film seconds per wall
second), the ratio pipeline/bare (target: at most 1.15), and where the pipeline's
time went: the upload and the attach as the client saw them, the worker's stages
from its log line, and the rest (waiting in the queue, claiming the video).

    python bench/ingest.py [--rounds 2] [--keep] [--clips DIR] [--media DIR]

The clips: a generated 60 s 1080p30 film (a Mandelbrot zoom, fine detail in
constant motion, with a tone) and the largest valid sample of ../shared/media.
"""

import argparse
import base64
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from bench.api_catalog import free_port, stop, wait_until_up
from kushfilms.config import Settings
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.ingest.probe import SourceInfo, probe
from kushfilms.media.synthetic import PATTERNS, render_clip
from kushfilms.media.transcoding.artwork import poster_spec
from kushfilms.media.transcoding.ladder import (
    Rung,
    ladder_command,
    output_dirs,
    plan_ladder,
    sprite_spec_for,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BROKEN = ("15", "16")  # the samples that must be refused
TARGET = 1.15
EMAIL = "bench@example.com"
POLL_SECONDS = 2.0  # ready_at stops the clock; polling seldom keeps the server's CPU for ffmpeg
TUS = {"Tus-Resumable": "1.0.0"}
# "video <id> is ready: 360p, 480p (source 0.01 s, probe 0.20 s, ffmpeg 5.31 s, ...)"
READY_LINE = re.compile(r"video (\S+) is ready: .* \((.+)\)$")
STAGE = re.compile(r"(\w+) ([\d.]+) s")


@dataclass
class PipelineRun:
    video_id: str
    wall: float
    upload: float
    attach: float


@dataclass
class Figures:
    clip: Path
    duration: float
    rungs: list[str]
    pipeline: list[PipelineRun] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)


def generated_clip(ffmpeg: str, directory: Path) -> Path:
    path = directory / "mandelbrot-1080p30-60s.mp4"
    if not path.exists():
        print(f"generating {path.name} (a minute or three)...", flush=True)
        pattern = next(i for i, text in enumerate(PATTERNS) if text.startswith("mandelbrot"))
        draft = path.with_suffix(".part.mp4")
        render_clip(
            ffmpeg,
            draft,
            seconds=60,
            width=1920,
            height=1080,
            fps=30,
            pattern=pattern,
            preset="veryfast",  # about 33 Mbit/s: a camera's file, not a test card's
        )
        draft.rename(path)
    return path


def largest_sample(media: Path) -> Path:
    films = [
        path
        for path in media.iterdir()
        if path.name[:2].isdigit() and path.suffix != ".vtt" and not path.name.startswith(BROKEN)
    ]
    if not films:
        raise SystemExit(f"no sample films in {media}")
    return max(films, key=lambda path: path.stat().st_size)


def start_server(env: dict[str, str], port: int, log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [BIN / "kushfilms", "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its worker and ffmpeg runs stop with it
        )
    wait_until_up(port, process)
    return process


def sign_in(http: httpx.Client, password: str) -> None:
    response = http.post("/api/auth/login", json={"email": EMAIL, "password": password})
    response.raise_for_status()
    http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"


def through_pipeline(http: httpx.Client, clip: Path, title: str, media_root: Path) -> PipelineRun:
    movie = http.post("/api/admin/movies", json={"title": title})
    movie.raise_for_status()
    movie_id = movie.json()["id"]
    size = str(clip.stat().st_size)
    started = time.time()
    with clip.open("rb") as body:
        created = http.post(
            "/api/admin/uploads",
            content=body,
            headers={
                **TUS,
                "Upload-Length": size,
                "Content-Length": size,
                "Upload-Metadata": "filename " + base64.b64encode(clip.name.encode()).decode(),
                "Content-Type": "application/offset+octet-stream",
            },
        )
    if created.status_code != 201 or created.headers["upload-offset"] != size:
        raise SystemExit(f"upload failed: {created.status_code} {created.text}")
    uploaded = time.time()
    upload_id = created.headers["location"].rstrip("/").rsplit("/", 1)[1]
    attached = http.post(f"/api/admin/movies/{movie_id}/video", json={"upload_id": upload_id})
    if attached.status_code != 202:
        raise SystemExit(f"attach failed: {attached.status_code} {attached.text}")
    attach_done = time.time()
    while True:
        video = http.get(f"/api/admin/movies/{movie_id}").json()["video"]
        if video["status"] == "failed":
            raise SystemExit(f"{clip.name} failed: {video['error']}")
        if video["status"] == "ready":
            break
        time.sleep(POLL_SECONDS)
    ready = datetime.fromisoformat(video["ready_at"]).timestamp()
    http.delete(f"/api/admin/movies/{movie_id}").raise_for_status()
    # Its files go in a job; let that finish before anything is timed again.
    while (media_root / "videos" / video["id"]).exists():
        time.sleep(0.05)
    return PipelineRun(video["id"], ready - started, uploaded - started, attach_done - uploaded)


def bare_ladder(
    ffmpeg: str, clip: Path, info: SourceInfo, rungs: list[Rung], scratch: Path
) -> float:
    out = Path(tempfile.mkdtemp(prefix="bare-", dir=scratch))
    for directory in output_dirs(out, rungs):
        directory.mkdir(parents=True)
    command = ladder_command(
        ffmpeg,
        clip,
        out,
        info,
        rungs,
        sprite=sprite_spec_for(info.duration),
        poster=poster_spec(info),
    )
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    shutil.rmtree(out)
    return wall


def worker_stages(log: Path) -> dict[str, dict[str, float]]:
    """Each video's stage times, from the worker's "is ready" log lines."""
    stages = {}
    for line in log.read_text(errors="replace").splitlines():
        if match := READY_LINE.search(line):
            laps = STAGE.findall(match.group(2))
            stages[match.group(1)] = {name: float(seconds) for name, seconds in laps}
    return stages


def report(
    figures: list[Figures], stages: dict[str, dict[str, float]], rounds: int, load: float
) -> None:
    print(f"\nmedian of {rounds} rounds, pipeline and bare alternating; x rt: film s per wall s")
    print(
        f"load average before the run: {load:.2f} (1 min); ffmpeg's threads raise it while it runs"
    )
    header = f"{'clip':<44}{'film s':>8}{'pipeline s':>12}{'x rt':>7}{'bare s':>9}{'x rt':>7}"
    print(header + f"{'ratio':>8}  verdict (target <= {TARGET})")
    for clip in figures:
        pipeline = statistics.median(run.wall for run in clip.pipeline)
        bare = statistics.median(clip.bare)
        ratio = pipeline / bare
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(
            f"{clip.clip.name:<44}{clip.duration:>8.2f}{pipeline:>12.2f}"
            f"{clip.duration / pipeline:>7.2f}{bare:>9.2f}{clip.duration / bare:>7.2f}"
            f"{ratio:>8.3f}  {verdict}"
        )
    print("\nwhere the pipeline's time went (medians, s); 'queue' is the wait for a worker")
    print("and its claim: attach response to ready, less the worker's stages")
    names = list(dict.fromkeys(name for run in stages.values() for name in run))
    columns = ["upload", "attach", "queue", *names, "overhead"]
    print(f"{'clip':<44}" + "".join(f"{name:>9}" for name in columns))
    for clip in figures:
        rows = []
        for run, bare in zip(clip.pipeline, clip.bare, strict=True):
            laps = stages.get(run.video_id, {})
            processing = run.wall - run.upload - run.attach
            row = {"upload": run.upload, "attach": run.attach, **laps}
            row["queue"] = processing - sum(laps.values())
            row["overhead"] = run.wall - bare
            rows.append(row)
        medians = {
            name: statistics.median(row[name] for row in rows if name in row)
            for name in columns
            if any(name in row for row in rows)
        }
        print(
            f"{clip.clip.name:<44}"
            + "".join(
                f"{medians[name]:>9.2f}" if name in medians else f"{'-':>9}" for name in columns
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="pipeline and bare runs per clip")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data, log)")
    parser.add_argument("--clips", type=Path, help="keep the generated clip here, to reuse it")
    parser.add_argument(
        "--media",
        type=Path,
        default=Path(os.environ.get("KF_SHARED_MEDIA", ROOT.parent / "shared" / "media")),
        help="the sample films (default: ../shared/media)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    tmp = Path(tempfile.mkdtemp(prefix="kf-bench-ingest-"))
    data = tmp / "data"
    password = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "KF_DATA_DIR": str(data),
        "KF_LOG_LEVEL": "info",  # the worker's stage times are logged at info
        "KF_RATE_LIMIT_API": "100000000/minute",
        "KF_ACCESS_TOKEN_MINUTES": "1440",
    }
    server = None
    try:
        subprocess.run([BIN / "kushfilms", "migrate"], env=env, cwd=tmp, check=True)
        subprocess.run(
            [BIN / "kushfilms", "create-admin", "--email", EMAIL, "--password", password],
            env=env,
            cwd=tmp,
            check=True,
        )
        settings = Settings(data_dir=data)
        ffmpeg = ffmpeg_executable(settings.ffmpeg_path)
        clips_dir = args.clips or tmp
        clips_dir.mkdir(parents=True, exist_ok=True)
        clips = [generated_clip(ffmpeg, clips_dir), largest_sample(args.media)]

        load = os.getloadavg()[0]
        port = free_port()
        log = tmp / "server.log"
        server = start_server(env, port, log, tmp)
        media_root = settings.data_dir / "media"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            sign_in(http, password)
            print(f"warm-up (not counted): {clips[-1].name} through the pipeline", flush=True)
            through_pipeline(http, clips[-1], "Warm-up", media_root)
            figures = []
            for clip in clips:
                info = probe(clip)
                rungs = plan_ladder(info, settings.ladder_bitrates)
                result = Figures(clip, info.duration, [rung.name for rung in rungs])
                print(f"{clip.name}: {info.duration:.2f} s, {', '.join(result.rungs)}", flush=True)
                for number in range(1, args.rounds + 1):
                    run = through_pipeline(http, clip, f"{clip.stem} {number}", media_root)
                    result.pipeline.append(run)
                    bare = bare_ladder(ffmpeg, clip, info, rungs, tmp)
                    result.bare.append(bare)
                    print(
                        f"  round {number}: pipeline {run.wall:.2f} s, bare {bare:.2f} s",
                        flush=True,
                    )
                figures.append(result)
        stop(server)
        server = None
        report(figures, worker_stages(log), args.rounds, load)
    finally:
        if server is not None:
            stop(server)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
