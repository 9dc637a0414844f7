"""Catalogue API throughput and latency against a bare endpoint of the same framework.

Seeds 10,000 published movies in 50 categories, starts one `kushfilms serve`
process (and, in turn, a bare FastAPI app on the same uvicorn settings), and
drives each endpoint with wrk from a separate process at 32 connections.

    python bench/api_catalog.py [--seconds 10] [--database-url URL]

Needs wrk (Debian: apt-get install wrk). Prints requests/s, p50/p95/p99 latency,
each endpoint's throughput as a ratio of the bare endpoint's, and peak RSS.
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from kushfilms.config import Settings
from kushfilms.db import Database
from kushfilms.kit.clock import utcnow
from kushfilms.kit.slug import make_slug, next_free_slug
from kushfilms.models import AccessLevel, Category, Movie

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADJECTIVES = [
    "silent",
    "crimson",
    "hidden",
    "broken",
    "golden",
    "last",
    "lost",
    "frozen",
    "burning",
    "electric",
    "quiet",
    "wild",
    "distant",
    "hollow",
    "iron",
    "paper",
    "velvet",
    "midnight",
    "northern",
    "secret",
    "bitter",
    "savage",
    "gentle",
    "endless",
    "final",
    "glass",
    "lonely",
    "restless",
    "scarlet",
    "shattered",
    "stolen",
    "sudden",
    "sunken",
]
NOUNS = [
    "river",
    "empire",
    "garden",
    "machine",
    "harbor",
    "kingdom",
    "letter",
    "mirror",
    "mountain",
    "ocean",
    "orchard",
    "planet",
    "prophet",
    "road",
    "shadow",
    "signal",
    "station",
    "stranger",
    "summer",
    "tide",
    "tower",
    "valley",
    "voyage",
    "winter",
    "witness",
    "city",
    "dragon",
    "forest",
    "island",
    "lantern",
]
PLOTS = (
    "A retired detective is drawn back for one last case.",
    "Two strangers share a train across a country at war.",
    "A young engineer builds a machine that remembers the future.",
    "An island village hides a secret older than its church.",
    "A jazz pianist loses his hearing on the eve of his first record.",
    "Three sisters inherit a vineyard and their mother's debts.",
    "A smuggler and a priest cross the mountains in the last days of winter.",
    "A radio operator hears a signal from a ship lost fifty years ago.",
)


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def catalogue(movies: int, categories: int, seed: int = 7) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    now = utcnow()
    category_rows = [
        {
            "id": uuid.uuid4(),
            "name": f"Genre {index:02d}",
            "slug": f"genre-{index:02d}",
            "description": "",
            "created_at": now,
            "updated_at": now,
        }
        for index in range(categories)
    ]
    taken: set[str] = set()
    movie_rows = []
    for index in range(movies):
        title = f"The {rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()}"
        if rng.random() < 0.4:
            title += f" of the {rng.choice(NOUNS).title()}"
        slug = next_free_slug(make_slug(title, fallback="movie"), taken)
        taken.add(slug)
        movie_rows.append(
            {
                "id": uuid.uuid4(),
                "title": title,
                "slug": slug,
                "description": " ".join(rng.sample(PLOTS, 2)),
                "poster_key": None,
                "duration": rng.randint(600, 9000),
                "release_year": rng.randint(1920, 2026),
                "published": True,
                "published_at": now - timedelta(minutes=index),
                "access_level": rng.choice(list(AccessLevel)),
                "category_id": category_rows[index % categories]["id"],
                "view_count": rng.randint(0, 100_000),
                "created_at": now,
                "updated_at": now,
            }
        )
    return category_rows, movie_rows


async def seed(settings: Settings, movies: list[dict], categories: list[dict]) -> None:
    db = Database(settings)
    async with db.writer() as session:
        await session.execute(insert(Category), categories)
        for start in range(0, len(movies), 1000):
            await session.execute(insert(Movie), movies[start : start + 1000])
        await session.commit()
    await db.dispose()


def wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not start within 30 s")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk_script(paths: list[str], directory: Path, headers: dict[str, str]) -> Path:
    script = directory / f"paths-{uuid.uuid4().hex}.lua"
    listed = ",\n".join(json.dumps(path) for path in paths)
    header_table = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    script.write_text(
        f"local paths = {{\n{listed}\n}}\n"
        f"local headers = {{{header_table}}}\n"
        "math.randomseed(os.time())\n"
        "request = function()\n"
        "  return wrk.format('GET', paths[math.random(#paths)], headers)\n"
        "end\n"
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        '  io.write(string.format(\'RESULT {"requests": %d, "duration_us": %d, '
        '"errors": %d, "p50": %f, "p95": %f, "p99": %f}\\n\', '
        "summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status, "
        "latency:percentile(50), latency:percentile(95), latency:percentile(99)))\n"
        "end\n"
    )
    return script


def visit_all(port: int, paths: list[str], headers: dict[str, str]) -> None:
    """Request every path once, four at a time, as earlier viewers would have."""

    def fetch(path: str) -> None:
        httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=30).raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fetch, paths))


def drive(
    name: str,
    port: int,
    paths: list[str],
    seconds: int,
    connections: int,
    tmp: Path,
    headers: dict[str, str] | None = None,
) -> Result:
    script = wrk_script(paths, tmp, headers or {})
    base = f"http://127.0.0.1:{port}"
    visit_all(port, paths, headers or {})
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", "-d3s", "-s", str(script), base],
        check=True,
        capture_output=True,
    )
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            base,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Result(
        name=name,
        requests_per_second=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50"] / 1000,
        p95_ms=data["p95"] / 1000,
        p99_ms=data["p99"] / 1000,
        errors=data["errors"],
    )


def sign_up(port: int) -> dict[str, str]:
    """A new viewer's bearer header, as their app would send it."""
    body = {
        "email": f"bench-{uuid.uuid4().hex[:8]}@example.com",
        "password": "bench-correct-horse-battery",
        "name": "B",
    }
    response = httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body, timeout=30)
    response.raise_for_status()
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    wait_until_up(port, process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=10_000)
    parser.add_argument("--categories", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="kf-bench-"))
    env = {
        **os.environ,
        "KF_DATA_DIR": str(tmp),
        "KF_LOG_LEVEL": "warning",
        # The general limit stays on (its cost is part of every request) but
        # high enough that one load generator is never refused.
        "KF_RATE_LIMIT_API": "100000000/minute",
    }
    if args.database_url:
        env["KF_DATABASE_URL"] = args.database_url
    subprocess.run([BIN / "kushfilms", "migrate"], env=env, check=True, capture_output=True)
    settings = Settings(
        data_dir=tmp, database_url=env.get("KF_DATABASE_URL", ""), secret_key="bench" * 8
    )
    categories, movies = catalogue(args.movies, args.categories)
    asyncio.run(seed(settings, movies, categories))

    rng = random.Random(11)
    pages = args.movies // 20
    list_paths = [f"/api/movies?page={n}" for n in range(1, pages + 1)]
    words = sorted({w.lower() for m in movies for w in m["title"].split()} - {"the", "of"})
    search_paths = [f"/api/movies?search={w}" for w in words]
    slug_paths = [f"/api/movies/{m['slug']}" for m in rng.sample(movies, 2000)]

    results = []
    port = free_port()
    bare = start(
        [str(BIN / "uvicorn"), "bench.bare_app:app", "--port", str(port), "--log-level", "warning"],
        env,
        port,
    )
    try:
        results.append(drive("bare", port, ["/bare"], args.seconds, args.connections, tmp))
    finally:
        stop(bare)

    rss = {}
    for cached in (True, False):
        port = free_port()
        server_env = {
            **env,
            "KF_CACHE_SECONDS": env.get("KF_CACHE_SECONDS", "10") if cached else "0",
        }
        server = start([str(BIN / "kushfilms"), "serve", "--port", str(port)], server_env, port)
        label = "" if cached else " (uncached)"
        try:
            viewer = sign_up(port)
            for name, paths in (
                ("list", list_paths),
                ("search", search_paths),
                ("detail", slug_paths),
            ):
                for who, headers in (("", {}), (", signed in", viewer)):
                    results.append(
                        drive(
                            f"{name}{label}{who}",
                            port,
                            paths,
                            args.seconds,
                            args.connections,
                            tmp,
                            headers,
                        )
                    )
            rss[cached] = peak_rss_mib(server.pid)
        finally:
            stop(server)
    shutil.rmtree(tmp, ignore_errors=True)

    bare_rps = results[0].requests_per_second
    print(
        f"\n{args.movies} movies, {args.categories} categories, {args.connections} connections,"
        f" {args.seconds} s per endpoint, database: {'custom' if args.database_url else 'SQLite'}"
    )
    header = ("req/s", "p50 ms", "p95 ms", "p99 ms", "vs bare")
    print(f"{'endpoint':<32}{header[0]:>10}" + "".join(f"{h:>9}" for h in header[1:]) + "  errors")
    for r in results:
        print(
            f"{r.name:<32}{r.requests_per_second:>10.0f}{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{r.requests_per_second / bare_rps:>9.0%}{r.errors:>8}"
        )
    print(f"server peak RSS: {rss[True]:.0f} MiB (uncached run: {rss[False]:.0f} MiB)")
    if args.json:
        args.json.write_text(
            json.dumps({"results": [r.__dict__ for r in results], "peak_rss_mib": rss}, indent=2)
        )


if __name__ == "__main__":
    main()
