"""``serve``: a local web page to explore a trained checkpoint (``aelab serve -l MLP.8.pth``)."""

from __future__ import annotations

import argparse
import ipaddress

from ..errors import UserError
from .args import add_data_args, load_data

NAME = "serve"
HELP = (
    "explore a checkpoint of any family in the browser (reconstruct, denoise, interpolate, latent "
    "sliders; new samples from a VAE)"
)
DESCRIPTION = (
    "Start a local web app over a trained checkpoint and print its URL; "
    "the page and its JSON API (docs at /docs) stay up until Ctrl-C."
)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_PORT = 65535


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be 0-{MAX_PORT} (0 picks a free port), got {value}")
    return value


def configure(p):
    p.add_argument(
        "-l",
        "--load",
        required=True,
        metavar="PATH",
        help="checkpoint from train.py, or a state_dict saved by the lab's own code",
    )
    add_data_args(p, from_checkpoint=True)
    p.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this machine only)"
    )
    p.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(args) -> int:
    try:
        from ..web.app import create_app
        from ..web.explorer import Explorer
        from ..web.server import bind, serve_forever, url_of
    except ImportError as err:
        raise UserError(
            f"the web explorer needs the web extra ({err.name} is missing): pip install -e '.[web]'"
        ) from None
    from ..training import checkpoint

    model = checkpoint.load_model(args.load)
    sock = bind(args.host, args.port)  # before the slow part, so a taken port fails at once
    try:
        train, test = load_data(args, args.load)
        app = create_app(Explorer(model, train, test))
    except BaseException:
        sock.close()
        raise
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}, so other machines may reach this page")
    print(f"aelab explorer of {args.load} on {train.name}: {url_of(sock)} (Ctrl-C to stop)", flush=True)
    serve_forever(app, sock)
    return 0
