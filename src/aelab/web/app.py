"""The explorer's FastAPI app: a JSON API over an :class:`Explorer` and the static page.

The app's limits (the body size middleware), its one-line error answers and the static page are
set up here; the API's routes are :mod:`.routes`'.
"""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..data.images import describe_size
from ..errors import UserError
from .explorer import Explorer, NeedsVAE
from .limits import BodyLimit
from .routes import NOT_A_VAE, UPLOAD_PATH, add_routes
from .schemas import MAX_NUMBER_CHARS, MAX_UPLOAD_BYTES, MAX_UPLOAD_MB, max_body_bytes
from .uploads import MAX_UPLOAD_PIXELS, MAX_UPLOAD_SIDE

STATIC_DIR = Path(__file__).parent / "static"
MAX_REPORTED_ERRORS = 3  # a 784-pixel body can fail 784 times; the first few say enough


def describe_validation_error(err: RequestValidationError) -> str:
    """FastAPI's list of validation errors as one line a person can act on."""
    problems = []
    for error in err.errors():
        where, *path = error.get("loc") or ("request",)
        if error.get("type") == "json_invalid":
            problems.append(f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})")
            continue
        name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        label = {"query": "query parameter", "path": "path parameter", "body": "body field"}.get(where, where)
        problems.append(f"{label} {name}: {error.get('msg')}" if name else f"{where}: {error.get('msg')}")
    extra = len(problems) - MAX_REPORTED_ERRORS
    return "; ".join(problems[:MAX_REPORTED_ERRORS]) + (f" (and {extra} more)" if extra > 0 else "")


def create_app(explorer: Explorer) -> FastAPI:
    """The app for one explorer; nothing is shared between apps, nothing happens at import."""
    config = explorer.config
    body_limit = max_body_bytes(config.input_dim, config.bottleneck)
    channels, height, width = explorer.shape
    sizes = config.layer_sizes.split()[-1]  # layer_sizes starts with the family's name, except the mlp's

    app = FastAPI(
        title="aelab explorer",
        version=__version__,
        description=f"Reconstruct, denoise, interpolate and decode with a {config.family} autoencoder "
        f"({sizes}) on {explorer.dataset} ({describe_size(explorer.shape)} images)"
        f"{', and sample new images from its prior' if explorer.can_sample else ''}. "
        f"Images are flat lists of {channels} x {height} x {width} pixels in [0, 1], "
        "channel-major (colour: the red plane, then green, then blue), each plane row-major. "
        f"Request bodies are limited to {body_limit} bytes ({config.input_dim} numbers of up "
        f"to {MAX_NUMBER_CHARS} characters each, plus room for the rest), and uploads to "
        f"{MAX_UPLOAD_BYTES} bytes (an image of up to {MAX_UPLOAD_PIXELS} pixels and "
        f"{MAX_UPLOAD_SIDE} on a side, else 422); a larger body gets "
        "413 as soon as it passes the limit, never read whole. The numbers in a body must "
        'be JSON numbers: strings such as "0.5", booleans and null get 422.',
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=body_limit,
        advice=f"send one image ({config.input_dim} pixels) or one code "
        f"({config.bottleneck} numbers) per request, as plain JSON numbers",
        paths={UPLOAD_PATH: (MAX_UPLOAD_BYTES, f"send an image file of at most {MAX_UPLOAD_MB} MB")},
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        return JSONResponse(status_code=422, content={"detail": describe_validation_error(err)})

    @app.exception_handler(UserError)
    async def user_error(request: Request, err: UserError):
        return JSONResponse(status_code=422, content={"detail": str(err)})

    @app.exception_handler(NeedsVAE)
    async def needs_vae(request: Request, err: NeedsVAE):
        return JSONResponse(status_code=NOT_A_VAE, content={"detail": str(err)})

    add_routes(app, explorer, body_limit)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
