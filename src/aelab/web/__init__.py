"""A local web explorer of a trained autoencoder: a JSON API (:mod:`.app`) over the model's
operations (:mod:`.explorer`) and a page (``static/``).

Needs the ``web`` extra (FastAPI and uvicorn): ``pip install -e ".[web]"``.
"""
