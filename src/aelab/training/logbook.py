"""``train --log-dir``: a run's TensorBoard events and ``metrics.csv``, kept by the main process.

The events go through ``torch.utils.tensorboard`` (the optional ``tensorboard`` extra), one
step per epoch, so a resumed run continues the same curves. ``metrics.csv`` is for readers
without TensorBoard; a row is flushed as each epoch ends, so a crash loses at most the epoch
that was running, and ``--resume`` rewrites it from the checkpoint's own history.

No torch at import: the command line imports this module only to run.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict
from pathlib import Path

from ..data.sources import PIXEL_MAX
from ..errors import UserError
from ..files import atomic_write, check_writable

INSTALL_HINT = "pip install 'aelab[tensorboard]'"
CSV_NAME = "metrics.csv"
CSV_FIELDS = ("epoch", "loss", "lr", "seconds")
EVENTS_GLOB = "events.out.tfevents.*"  # how TensorBoard names its event files
SAMPLE_COUNT = 8  # test images in the reconstruction strip: one row that still reads at a glance
# The tags the hparams dashboard shows beside each run's settings, at their last values.
METRICS = ("test/mse", "train/loss")


def summary_writer_class():
    """TensorBoard's writer, or the line that says how to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError(f"--log-dir needs TensorBoard, which is not installed; {INSTALL_HINT}") from None
    return SummaryWriter


def check_folder(folder: str | Path, resume: bool) -> Path:
    """``folder`` if this run can log there, checked before any work; it writes nothing."""
    summary_writer_class()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--log-dir {folder} is a file; give a folder")
    if not folder.exists():
        check_writable(folder, "--log-dir")  # its parent must exist: the folder is made when training starts
        return folder
    check_writable(folder / CSV_NAME, "--log-dir")
    earlier = (folder / CSV_NAME).exists() or any(folder.glob(EVENTS_GLOB))
    if earlier and not resume:
        # Two runs' events in one folder draw as one tangled curve in TensorBoard.
        raise UserError(
            f"--log-dir {folder} holds the logs of an earlier run; add --resume to continue "
            "that run, or choose a new folder"
        )
    return folder


def hparams_of(run) -> dict:
    """The run config as one flat dict of the scalar types TensorBoard's hparams take."""
    flat = {"recipe": run.recipe}
    for prefix, config in (("train", run.train), ("model", run.model), ("data", run.data)):
        for name, value in asdict(config).items():
            if isinstance(value, (tuple, list)):  # image shapes and channel lists
                value = ",".join(map(str, value))
            flat[f"{prefix}.{name}"] = value  # torch leaves out None (an unseeded run's seed)
    return flat


def after_the_last_events(folder: Path) -> None:
    """Wait, at most a second, until the clock is past the folder's newest event file. Readers take
    the files in name order, and a name is the second it was opened then an unpadded counter, so
    a file opened in the same second by the same process could sort before an older one (``10``
    before ``9``), and its purge of lost epochs would be read first and undone."""
    stamps = [int(p.name.split(".")[3]) for p in folder.glob("events.out.tfevents.*") if p.name.split(".")[3].isdigit()]
    while stamps and time.time() < max(stamps) + 1:
        time.sleep(0.05)


class RunLog:
    """The log of one run in ``folder``; ``history`` is the resumed run's, None for a new run.

    A resumed run's events past its epoch (written before a crash, or by a run resumed from
    an older checkpoint) are purged by TensorBoard when it reads the folder, and the CSV is
    rewritten with the epochs the checkpoint holds, so no epoch appears twice in either.
    """

    def __init__(self, folder: Path, run, test_set, images_every: int, history=None):
        import torch

        self.folder, self.config, self.images_every = Path(folder), run.train, images_every
        resumed_epoch = len(history.losses) if history is not None else 0
        self.folder.mkdir(exist_ok=True)
        # TensorBoard drops the folder's events from this step on: those of epochs the checkpoint lost.
        purge_step = resumed_epoch + 1 if history is not None else None
        after_the_last_events(self.folder)
        self.writer = summary_writer_class()(str(self.folder), purge_step=purge_step)
        self.write_hparams(hparams_of(run))
        samples = test_set.images[:SAMPLE_COUNT]
        self.samples = samples.reshape(len(samples), -1).to(torch.float32) / PIXEL_MAX
        self.csv_path = self.folder / CSV_NAME
        rows = [row_of(epoch, history) for epoch in range(1, resumed_epoch + 1)]
        atomic_write(self.csv_path, lambda tmp: write_rows(tmp, [CSV_FIELDS, *rows]))
        self.csv = open(self.csv_path, "a", newline="")

    def write_hparams(self, values: dict) -> None:
        from torch.utils.tensorboard.summary import hparams

        experiment, session_start, _ = hparams(values, dict.fromkeys(METRICS))
        for summary in (experiment, session_start):
            self.writer.file_writer.add_summary(summary)

    def following(self, on_epoch_end):
        """A callback for :meth:`Trainer.fit` that calls ``on_epoch_end`` (the checkpoint), then logs."""

        def both(trainer) -> None:
            on_epoch_end(trainer)
            self.epoch_end(trainer)

        return both

    def epoch_end(self, trainer) -> None:
        epoch, history = trainer.epoch, trainer.history
        row = row_of(epoch, history)
        for tag, value in zip(("train/loss", "train/lr", "train/epoch_seconds"), row[1:]):
            self.writer.add_scalar(tag, value, epoch)
        if epoch % self.images_every == 0 or epoch == self.config.epochs:
            self.writer.add_image("test/reconstructions", self.strip(trainer.model), epoch)
        csv.writer(self.csv).writerow(row)
        self.csv.flush()
        self.writer.flush()

    def strip(self, model):
        """The sample test images over their reconstructions, as one CHW image in [0, 1]."""
        import torch
        from torchvision.utils import make_grid

        device = next(model.parameters()).device
        samples = self.samples.to(device)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            outputs = model(samples).float()
        model.train(was_training)
        pairs = torch.cat([samples, outputs]).reshape(-1, *model.config.image_shape).clamp(0, 1)
        return make_grid(pairs.cpu(), nrow=len(samples), pad_value=1.0)  # white gaps part dark images

    def finish(self, test_mse: float, epoch: int) -> None:
        """Log the test MSE at the last epoch, mark the run finished and close the files."""
        from torch.utils.tensorboard.summary import hparams

        self.writer.add_scalar("test/mse", test_mse, epoch)
        self.writer.file_writer.add_summary(hparams({}, {})[2])  # the session's end, as a success
        self.writer.close()
        self.csv.close()


def row_of(epoch: int, history) -> list:
    """Epoch ``epoch`` (from 1) of ``history``: its own seconds, where the history keeps running totals."""
    seconds = history.seconds[epoch - 1] - (history.seconds[epoch - 2] if epoch > 1 else 0.0)
    return [epoch, history.losses[epoch - 1], history.lrs[epoch - 1], seconds]


def write_rows(path, rows) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
