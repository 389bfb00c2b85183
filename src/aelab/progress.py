"""Progress bars: tqdm.auto's, which draw as a widget in Jupyter and as text elsewhere.

Where a notebook has no ipywidgets, tqdm falls back to text bars and warns about it on import;
the bars still work, so that warning is not shown.
"""

from __future__ import annotations

import warnings


def progress_bar():
    """The ``tqdm`` class for this session's bars (notebook widgets or text)."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm
