"""``train``: the lab's ``python train.py -z 8 -e 50 -b 2048 -s MLP.8.pth -p loss.MLP.8.png``."""

from __future__ import annotations

import sys
import time

from ..errors import UserError
from ..files import PathLock, check_image_path, check_writable, remove_stale_temp_files
from ..models import registry
from ..models.config import DEFAULT_FAMILY
from ..training.config import DEVICES, RECIPE_NAMES, RunConfig, settle
from ..training.logbook import INSTALL_HINT
from .args import add_data_args, data_config, positive_int, seed
from .run_flags import add_model_flags, add_training_flags, run_settings

NAME = "train"
HELP = "train an autoencoder (the lab's train.py)"
DESCRIPTION = "Train the lab's MLP autoencoder on an MNIST-style dataset."

MEMORY_ADVICE = "lower -z or --hidden (the model), -b (the batches), or use --loader stream (the data)"


def configure(p):
    p.add_argument("-e", "--epochs", type=positive_int, default=50, help="epochs (default 50)")
    p.add_argument(
        "-s",
        "--save",
        default="MLP.8.pth",
        metavar="PATH",
        help="checkpoint written after every epoch (default MLP.8.pth)",
    )
    p.add_argument("-p", "--plot", default=None, metavar="PATH", help="loss-curve image to write")
    p.add_argument("--seed", type=seed, default=None, help="seed for a repeatable run")
    add_data_args(p)
    p.add_argument(
        "--recipe",
        choices=RECIPE_NAMES,
        default="lab",
        help="preset for the options below (default lab: the lab's report; best: "
        "linear code, BCE, one-cycle at batch 256, input noise 0.1); explicit options override it",
    )
    p.add_argument(
        "--model",
        dest="family",
        choices=registry.names(),
        default=DEFAULT_FAMILY,
        help="; ".join(f"{f.name}: {f.summary}" for f in registry.families()),
    )
    add_model_flags(p)
    add_training_flags(p)
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N (default auto)")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--resume", action="store_true", help="continue the run saved at --save")
    p.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    add_log_args(p)
    p.set_defaults(run=run)


IMAGES_EVERY = 5  # a handful of reconstruction strips over the lab's 50 epochs


def add_log_args(p):
    p.add_argument(
        "--log-dir",
        metavar="DIR",
        help=f"write TensorBoard events and metrics.csv into DIR (needs {INSTALL_HINT}); --resume continues them",
    )
    p.add_argument(
        "--log-images-every",
        type=positive_int,
        default=IMAGES_EVERY,
        metavar="N",
        help=f"with --log-dir: test reconstructions every N epochs and at the last (default {IMAGES_EVERY})",
    )


def run(args) -> int:
    from ..training import distributed

    with distributed.from_env(args.device) as dist:  # a single process outside torchrun
        return train(args, dist)


def train(args, dist) -> int:
    from ..data.datasets import load_splits
    from ..training import checkpoint, resume

    # Only the main process writes files, so only its file system is checked and read.
    save_path = dist.from_main(lambda: check_writable(args.save, "checkpoint"))
    if args.plot:
        dist.from_main(lambda: check_image_path(args.plot, "plot"))
    data = data_config(args)
    settings = {**run_settings(args), "epochs": args.epochs, "seed": dist.shared_seed(args.seed)}
    settle(args.family, args.recipe, data, settings)  # a wrong flag stops the run before any data is read
    # Both splits now, so a broken test file stops the run before training rather than after it.
    progress = dist.is_main and not args.no_progress
    train_set, test_set = dist.main_first(
        lambda: load_splits(data, args.data_root, args.cache_dir, args.skip_bad_images, progress=progress)
    )
    test_set.check_same_size_as(train_set)
    run = RunConfig.create(args.family, args.recipe, image_shape=train_set.image_shape, data=data, **settings)
    lock = PathLock(save_path, "-s")
    dist.from_main(lambda: lock.__enter__() and None)  # a second run on the same -s stops here
    try:
        if dist.is_main:  # no other run writes here now, so leftovers of a killed one can go
            remove_stale_temp_files(save_path, checkpoint.state_path(save_path))
        resume_state = dist.from_main(lambda: resume.load(save_path, run)) if args.resume else None
        return train_locked(args, dist, run, train_set, test_set, save_path, resume_state)
    finally:
        lock.__exit__()


def train_locked(args, dist, run: RunConfig, train_set, test_set, save_path, resume_state) -> int:
    from ..analysis.inference import mean_mse
    from ..training.cuda_graph import GraphedStep
    from ..training.interrupts import Interrupted, SignalGuard, StopSignal
    from ..training.logbook import RunLog, check_folder
    from ..training.run import EpochCheckpoint, build_trainer, check_memory, previous_path
    from ..training.runtime import make_runtime
    from ..training.trainer import NonFiniteLoss

    config, model_config = run.train, run.model
    log_dir = dist.from_main(lambda: check_folder(args.log_dir, args.resume)) if args.log_dir else None
    runtime = make_runtime(dist.device, args.precision, args.compile)
    check_memory(run, train_set, runtime)
    trainer = build_trainer(run, train_set, runtime, dist, resume_state, save_path)
    if resume_state is not None:
        dist.say(f"resuming {save_path} after epoch {trainer.epoch}")

    if isinstance(trainer.step, GraphedStep):
        started = time.perf_counter()
        trainer.prepare()
        dist.say(
            f"captured the training step as CUDA graphs in {time.perf_counter() - started:.2f}s "
            "(not counted as training time)"
        )
    processes = f" x {dist.world_size} processes" if dist.world_size > 1 else ""
    dist.say(
        f"training {model_config.layer_sizes} autoencoder on {run.data.label} ({len(train_set)} images, "
        f"{trainer.batches.loader} loader, {trainer.step_kind} step) on {runtime.name}{processes}, "
        f"{config.precision}"
    )
    warning = runtime.precision_warning()
    if warning:
        dist.say(warning, file=sys.stderr)
    if resume_state is None and dist.is_main and save_path.exists():
        dist.say(
            f"{save_path} holds an earlier run; it is kept as {previous_path(save_path)} "
            "once this run saves its first epoch"
        )
    log = (
        RunLog(log_dir, run, test_set, args.log_images_every, trainer.history if resume_state else None)
        if log_dir and dist.is_main
        else None
    )
    guard = SignalGuard()
    end_epoch = EpochCheckpoint(save_path, guard, dist, saved_epoch=trainer.epoch if resume_state else None)
    on_epoch_end = log.following(end_epoch) if log else end_epoch
    try:
        with guard:
            trainer.fit(on_epoch_end, progress=not args.no_progress and sys.stderr.isatty() and dist.is_main)
    except StopSignal as stop:
        then = "continue with the same command plus --resume" if end_epoch.saved_epoch else "run the command again"
        raise Interrupted(
            f"stopped by {stop} during epoch {trainer.epoch + 1}; {end_epoch.kept()}; {then}", stop.signum
        ) from None
    except NonFiniteLoss as err:
        fix = "start a new run with a lower --lr" + (" or --precision fp32" if config.precision == "bf16" else "")
        raise NonFiniteLoss(f"{err}; {end_epoch.kept()}; {fix}") from None
    except dist.peer_errors as err:  # nothing outside torchrun; there, a peer that died or hung
        raise UserError(
            f"another process of the run failed ({str(err).splitlines()[0].split('. ')[0]}); "
            f"{end_epoch.kept()}; see its log, then continue with --resume"
        ) from None

    if not dist.is_main:
        return 0
    test_mse = mean_mse(trainer.model, test_set.floats(runtime.device))
    if log:
        log.finish(test_mse, trainer.epoch)
    if args.plot:
        from ..analysis.plots import loss_curve

        loss_curve(
            trainer.history.losses,
            args.plot,
            test_mse,
            title=f"{run.data.label}, bottleneck {model_config.bottleneck}: training loss",
        )
        print(f"saved loss curve to {args.plot}")
    print(
        f"done: train loss {trainer.history.losses[-1]:.6f}, test MSE {test_mse:.6f}, "
        f"{trainer.history.seconds[-1]:.1f}s training; saved {save_path}"
    )
    return 0
