"""A local web explorer of a trained autoencoder: a JSON API and a page over it.

Needs the ``web`` extra (FastAPI and uvicorn): ``pip install -e ".[web]"``.
"""

from .app import create_app
from .explorer import Explorer

__all__ = ["Explorer", "create_app"]
