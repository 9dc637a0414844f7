"""Generated clips (ffmpeg's test sources) for the demo catalogue, tests and benchmarks."""

import subprocess
from pathlib import Path

# Moving pictures ffmpeg draws by itself, one look per film.
PATTERNS = (
    "testsrc2=size={w}x{h}:rate={fps}",
    "mandelbrot=size={w}x{h}:rate={fps}",
    "life=size={w}x{h}:rate={fps}:mold=10:ratio=0.1:death_color=#C83232:life_color=#00ff00",
    "zoneplate=size={w}x{h}:rate={fps}:kt2=1:ky=2",
    "cellauto=size={w}x{h}:rate={fps}:rule=110",
    "gradients=size={w}x{h}:rate={fps}:speed=0.03",
    "colorspectrum=size={w}x{h}:rate={fps}:type=all",
    "smptehdbars=size={w}x{h}:rate={fps}",
)


def render_clip(
    ffmpeg: str,
    destination: Path,
    *,
    seconds: float,
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
    pattern: int = 0,
    tone_hz: int = 440,
    audio: bool = True,
    preset: str = "ultrafast",
) -> Path:
    """An H.264/AAC MP4 of a moving test picture (and a quiet tone)."""
    source = PATTERNS[pattern % len(PATTERNS)].format(w=width, h=height, fps=fps)
    command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=48000"]
        command += ["-af", "volume=0.15", "-c:a", "aac", "-b:a", "128k"]
    command += [
        "-t", f"{seconds:.3f}",
        "-c:v", "libx264", "-preset", preset, "-crf", "23", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart",
        str(destination),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - our own arguments
    return destination
