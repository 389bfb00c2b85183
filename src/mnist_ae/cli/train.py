"""``train``: the lab's ``python train.py -z 8 -e 50 -b 2048 -s MLP.8.pth -p loss.MLP.8.png``."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict

import torch

from .. import checkpoint, distributed, resume
from ..cuda_graph import GraphedStep
from ..data import load_images
from ..errors import UserError
from ..evaluation import mean_mse
from ..interrupts import Interrupted, SignalGuard, StopSignal
from ..model import CODE_ACTIVATIONS, MLPAutoencoder, ModelConfig, init_lab_weights
from ..plots import loss_curve
from ..recipes import RECIPES, resolve, split
from ..runtime import DEVICES, PRECISIONS, make_runtime
from ..training import LOADERS, LOSSES, SCHEDULES, NonFiniteLoss, TrainConfig, Trainer, make_batches
from .args import add_data_args, non_negative_float, positive_float, positive_int, seed


NAME = "train"
HELP = "train an autoencoder (the lab's train.py)"
DESCRIPTION = "Train the lab's MLP autoencoder on an MNIST-style dataset."


def configure(p):
    p.add_argument("-z", "--bottleneck", type=positive_int, default=8, help="code size (default 8)")
    p.add_argument("-e", "--epochs", type=positive_int, default=50, help="epochs (default 50)")
    p.add_argument("-b", "--batch-size", type=positive_int, help="batch size (lab recipe: 2048)")
    p.add_argument("-s", "--save", default="MLP.8.pth", metavar="PATH",
                   help="checkpoint written after every epoch (default MLP.8.pth)")
    p.add_argument("-p", "--plot", default=None, metavar="PATH", help="loss-curve image to write")
    p.add_argument("--seed", type=seed, default=None, help="seed for a repeatable run")
    add_data_args(p)
    p.add_argument("--recipe", choices=list(RECIPES), default="lab",
                   help="preset for the options below (default lab: the lab's report; best: "
                        "linear code, BCE, one-cycle at batch 256, input noise 0.1); explicit options override it")
    p.add_argument("--hidden", type=positive_int, help="hidden width (lab: 392)")
    p.add_argument("--code-activation", choices=CODE_ACTIVATIONS, help="activation on the code (lab: relu)")
    p.add_argument("--lr", type=positive_float, help="learning rate, the peak for onecycle (lab: 1e-3)")
    p.add_argument("--weight-decay", type=non_negative_float, help="Adam weight decay (lab: 1e-5)")
    p.add_argument("--loss", choices=LOSSES, help="mse (the lab's) or bce on the decoder's logits")
    p.add_argument("--schedule", choices=SCHEDULES, help="plateau (the lab's ReduceLROnPlateau) or onecycle")
    p.add_argument("--train-noise", type=non_negative_float, metavar="STD",
                   help="add N(0, STD^2) noise to the inputs, targets clean: to denoise, or to "
                        "regularize (lab: 0; best: 0.1)")
    p.add_argument("--clip-noise", action="store_true",
                   help="clip the noisy inputs to [0, 1], as a stored image would be (eval has the same flag)")
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N (default auto)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="default fp32, the lab's numerics")
    p.add_argument("--loader", choices=LOADERS, default="auto",
                   help="memory: whole set on the device; stream: the lab's DataLoader (default auto)")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--resume", action="store_true", help="continue the run saved at --save")
    p.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    p.set_defaults(run=run)


def run(args) -> int:
    with distributed.from_env(args.device) as dist:  # a single process outside torchrun
        return train(args, dist)


def train(args, dist: distributed.SingleProcess) -> int:
    training, shape = split(resolve(args.recipe, hidden=args.hidden, code_activation=args.code_activation,
                                    lr=args.lr, weight_decay=args.weight_decay, loss=args.loss,
                                    schedule=args.schedule, batch_size=args.batch_size,
                                    train_noise=args.train_noise))
    config = TrainConfig(**training, epochs=args.epochs, clip_noise=args.clip_noise,
                         seed=dist.shared_seed(args.seed), dataset=args.dataset, loader=args.loader,
                         precision=args.precision, recipe=args.recipe)
    # Only the main process writes files, so only its file system is checked and read.
    save_path = dist.from_main(lambda: checkpoint.check_writable(args.save, "checkpoint"))
    if args.plot:
        dist.from_main(lambda: checkpoint.check_writable(args.plot, "plot"))
    resume_state = dist.from_main(lambda: resume.load(save_path, config)) if args.resume else None
    runtime = make_runtime(dist.device, args.precision, args.compile)
    if args.seed is not None:
        # Rank 0 draws what a single process would (DDP copies its initial weights to the
        # others); the other ranks get noise streams of their own.
        torch.manual_seed(args.seed + dist.rank)

    train_set = dist.main_first(lambda: load_images(args.dataset, args.data_root, train=True))
    # Read now, so a broken test file stops the run before training rather than after it.
    test_set = dist.main_only(lambda: load_images(args.dataset, args.data_root, train=False))
    model_config = ModelConfig(**shape, input_dim=train_set.images[0].numel(), bottleneck=args.bottleneck,
                               output_dim=train_set.images[0].numel(), image_shape=train_set.image_shape)
    model = build_model(model_config)
    init_lab_weights(model)
    if resume_state is not None:
        resume.load_weights(model, resume_state, save_path)
    model.to(runtime.device)

    batches = dist.shard(make_batches(train_set, config, runtime.device, args.data_root))
    trainer = Trainer(model, config, runtime, batches, dist=dist)
    saved_epoch = None  # the epoch the checkpoint on disk holds, for the message on a stop
    if resume_state is not None:
        resume.restore(trainer, resume_state, save_path)
        saved_epoch = trainer.epoch
        dist.say(f"resuming {save_path} after epoch {trainer.epoch}")

    if isinstance(trainer.step, GraphedStep):
        started = time.perf_counter()
        trainer.prepare()
        dist.say(f"captured the training step as CUDA graphs in {time.perf_counter() - started:.2f}s "
                 "(not counted as training time)")
    loader = type(batches).__name__.removeprefix("Sharded").removesuffix("Batches").lower()
    processes = f" x {dist.world_size} processes" if dist.world_size > 1 else ""
    dist.say(f"training {model_config.input_dim}-{model_config.hidden}-{model_config.bottleneck} autoencoder "
             f"on {args.dataset} ({len(train_set)} images, {loader} loader) on {runtime.name}{processes}, "
             f"{config.precision}")
    guard = SignalGuard()

    def end_epoch(t: Trainer):
        nonlocal saved_epoch
        state = {**t.run_state(), "model_config": asdict(model_config)}  # every rank: gathers RNGs
        with guard.deferred():  # a stop signal waits for the write, so the file is a whole epoch
            if dist.is_main:
                save(save_path, t.model, state)
            saved_epoch = t.epoch
        dist.say(f"epoch {t.epoch:3d}/{config.epochs}  loss {t.history.losses[-1]:.6f}  "
                 f"lr {t.history.lrs[-1]:.2e}  {t.history.seconds[-1]:7.1f}s", flush=True)

    try:
        with guard:
            trainer.fit(end_epoch, progress=not args.no_progress and sys.stderr.isatty() and dist.is_main)
    except StopSignal as stop:
        then = "continue with the same command plus --resume" if saved_epoch else "run the command again"
        raise Interrupted(f"stopped by {stop} during epoch {trainer.epoch + 1}; "
                          f"{kept(save_path, saved_epoch)}; {then}", stop.signum) from None
    except NonFiniteLoss as err:
        fix = "start a new run with a lower --lr" + (" or --precision fp32" if config.precision == "bf16" else "")
        raise NonFiniteLoss(f"{err}; {kept(save_path, saved_epoch)}; {fix}") from None
    except dist.peer_errors as err:  # nothing outside torchrun; there, a peer that died or hung
        raise UserError(f"another process of the run failed ({str(err).splitlines()[0].split('. ')[0]}); "
                        f"{kept(save_path, saved_epoch)}; see its log, then continue with --resume") from None

    if not dist.is_main:
        return 0
    test_mse = mean_mse(model, test_set.floats(runtime.device))
    if args.plot:
        loss_curve(trainer.history.losses, args.plot, test_mse,
                   title=f"{args.dataset}, bottleneck {args.bottleneck}: training loss")
        print(f"saved loss curve to {args.plot}")
    print(f"done: train loss {trainer.history.losses[-1]:.6f}, test MSE {test_mse:.6f}, "
          f"{trainer.history.seconds[-1]:.1f}s training; saved {save_path}")
    return 0


def kept(save_path, saved_epoch: int | None) -> str:
    """What the checkpoint on disk holds after a stop."""
    if saved_epoch is None:
        return "no epoch finished, so nothing was saved"
    return f"{save_path} keeps epoch {saved_epoch}, the last one finished"


def save(save_path, model: MLPAutoencoder, state: dict) -> None:
    try:
        checkpoint.save(save_path, model, state)
    except OSError as err:  # the atomic write left the previous checkpoint as it was
        raise UserError(f"cannot write {save_path} ({err.strerror or err}); the last checkpoint written whole "
                        "is kept; free some space or fix the folder's permissions, then continue with --resume"
                        ) from None


def build_model(config: ModelConfig) -> MLPAutoencoder:
    try:
        return MLPAutoencoder(config)
    except (RuntimeError, MemoryError):  # the allocator's way of saying the layers do not fit
        raise UserError(f"not enough memory for a {config.input_dim}-{config.hidden}-{config.bottleneck} "
                        "model; choose a smaller --hidden or -z") from None
