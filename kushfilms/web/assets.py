"""Static files: our own, and the front-end libraries npm installed (never a CDN).

Every URL carries a hash of the file's content, so browsers may keep files
forever and still see a new version the moment it changes.
"""

import hashlib
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

OWN = Path(__file__).resolve().parent / "static"
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"

# The files of npm packages that pages may load, by the name they are served under.
VENDOR = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "hls.min.js": "hls.js/dist/hls.min.js",
    "chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
    "uppy.min.mjs": "uppy/dist/uppy.min.mjs",
    "uppy.min.css": "uppy/dist/uppy.min.css",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
# Browsers refuse module scripts sent as anything but JavaScript.
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")


@dataclass
class Assets:
    own: Path = OWN
    node_modules: Path = NODE_MODULES
    versions: dict[str, str] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        if name.startswith("vendor/"):
            vendored = VENDOR.get(name.removeprefix("vendor/"))
            if vendored is None:
                raise FileNotFoundError(name)
            return self.node_modules / vendored
        path = (self.own / name).resolve()
        if not path.is_relative_to(self.own) or not path.is_file():
            raise FileNotFoundError(name)
        return path

    def url(self, name: str) -> str:
        """The URL of a static file, versioned by its content."""
        version = self.versions.get(name)
        if version is None:
            version = hashlib.sha256(self.path(name).read_bytes()).hexdigest()[:12]
            self.versions[name] = version
        return f"/static/{name}?v={version}"

    def missing_vendor_files(self) -> list[str]:
        return [name for name, path in VENDOR.items() if not (self.node_modules / path).is_file()]


def static_router(assets: Assets) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/favicon.ico")
    async def favicon() -> RedirectResponse:  # for browsers that ask before reading the page
        return RedirectResponse(assets.url("img/icon.svg"), status_code=301)

    @router.get("/static/{name:path}")
    async def static_file(name: str) -> FileResponse:
        try:
            path = assets.path(name)
        except FileNotFoundError as error:
            raise HTTPException(404) from error
        return FileResponse(path, headers=IMMUTABLE)

    return router
