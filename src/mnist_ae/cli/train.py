"""``train``: the lab's ``python train.py -z 8 -e 50 -b 2048 -s MLP.8.pth -p loss.MLP.8.png``."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import asdict

import torch

from .. import checkpoint
from ..data import load_images
from ..errors import UserError
from ..evaluation import mean_mse
from ..model import CODE_ACTIVATIONS, MLPAutoencoder, ModelConfig, init_lab_weights
from ..plots import loss_curve
from ..recipes import RECIPES, resolve
from ..runtime import DEVICES, PRECISIONS, make_runtime
from ..training import LOADERS, LOSSES, SCHEDULES, TrainConfig, Trainer, make_batches
from .args import add_data_args, non_negative_float, positive_float, positive_int


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
    p.add_argument("--seed", type=int, default=None, help="seed for a repeatable run")
    add_data_args(p)
    p.add_argument("--recipe", choices=list(RECIPES), default="lab",
                   help="preset for the options below (default lab: the lab's report; best: "
                        "linear code, BCE, one-cycle at batch 256); explicit options override it")
    p.add_argument("--hidden", type=positive_int, help="hidden width (lab: 392)")
    p.add_argument("--code-activation", choices=CODE_ACTIVATIONS, help="activation on the code (lab: relu)")
    p.add_argument("--lr", type=positive_float, help="learning rate, the peak for onecycle (lab: 1e-3)")
    p.add_argument("--weight-decay", type=non_negative_float, help="Adam weight decay (lab: 1e-5)")
    p.add_argument("--loss", choices=LOSSES, help="mse (the lab's) or bce on the decoder's logits")
    p.add_argument("--schedule", choices=SCHEDULES, help="plateau (the lab's ReduceLROnPlateau) or onecycle")
    p.add_argument("--train-noise", type=non_negative_float, default=0.0, metavar="STD",
                   help="train to denoise: add N(0, STD^2) noise to inputs, unclipped (default 0)")
    p.add_argument("--device", default="auto", help=f"{', '.join(DEVICES)} or cuda:N (default auto)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="default fp32, the lab's numerics")
    p.add_argument("--loader", choices=LOADERS, default="auto",
                   help="memory: whole set on the device; stream: the lab's DataLoader (default auto)")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--resume", action="store_true", help="continue the run saved at --save")
    p.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    p.set_defaults(run=run)


class Interrupted(Exception):
    pass


def raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def run(args) -> int:
    recipe = resolve(args.recipe, hidden=args.hidden, code_activation=args.code_activation, lr=args.lr,
                     weight_decay=args.weight_decay, loss=args.loss, schedule=args.schedule,
                     batch_size=args.batch_size)
    config = TrainConfig(epochs=args.epochs, batch_size=recipe["batch_size"], lr=recipe["lr"],
                         weight_decay=recipe["weight_decay"], loss=recipe["loss"],
                         schedule=recipe["schedule"], train_noise=args.train_noise, seed=args.seed,
                         dataset=args.dataset, loader=args.loader, precision=args.precision,
                         recipe=args.recipe)
    save_path = checkpoint.check_writable(args.save, "checkpoint")
    if args.plot:
        checkpoint.check_writable(args.plot, "plot")
    resume_state = checkpoint.load_run_state(save_path) if args.resume else None
    runtime = make_runtime(args.device, args.precision, args.compile)
    if args.seed is not None:
        torch.manual_seed(args.seed)

    train_set = load_images(args.dataset, args.data_root, train=True)
    model_config = ModelConfig(input_dim=train_set.images[0].numel(), hidden=recipe["hidden"],
                               bottleneck=args.bottleneck, output_dim=train_set.images[0].numel(),
                               code_activation=recipe["code_activation"], image_shape=train_set.image_shape)
    model = MLPAutoencoder(model_config)
    init_lab_weights(model)
    if resume_state is not None:
        model = resume_model(save_path, model_config, resume_state, config)
    model.to(runtime.device)

    batches = make_batches(train_set, config, runtime.device, args.data_root)
    trainer = Trainer(model, config, runtime, batches)
    if resume_state is not None:
        trainer.restore(resume_state)
        print(f"resuming {save_path} after epoch {trainer.epoch}")

    print(f"training {model_config.input_dim}-{model_config.hidden}-{model_config.bottleneck} autoencoder on "
          f"{args.dataset} ({len(train_set)} images, {type(batches).__name__.replace('Batches', '').lower()} "
          f"loader) on {runtime.name}, {config.precision}")

    def end_epoch(t: Trainer):
        checkpoint.save(save_path, t.model, {**t.run_state(), "model_config": asdict(model_config)})
        print(f"epoch {t.epoch:3d}/{config.epochs}  loss {t.history.losses[-1]:.6f}  "
              f"lr {t.history.lrs[-1]:.2e}  {t.history.seconds[-1]:7.1f}s", flush=True)

    previous = {s: signal.signal(s, raise_interrupted) for s in (signal.SIGTERM,)}
    try:
        trainer.fit(end_epoch, progress=not args.no_progress and sys.stderr.isatty())
    except (KeyboardInterrupt, Interrupted) as stop:
        raise UserError(
            f"interrupted ({stop or 'SIGINT'}) during epoch {trainer.epoch + 1}; {save_path} holds "
            f"epoch {trainer.epoch}; continue with the same command plus --resume"
        ) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

    test_set = load_images(args.dataset, args.data_root, train=False)
    test_mse = mean_mse(model, test_set.floats(runtime.device))
    if args.plot:
        loss_curve(trainer.history.losses, args.plot, test_mse,
                   title=f"{args.dataset}, bottleneck {args.bottleneck}: training loss")
        print(f"saved loss curve to {args.plot}")
    print(f"done: train loss {trainer.history.losses[-1]:.6f}, test MSE {test_mse:.6f}, "
          f"{trainer.history.seconds[-1]:.1f}s training; saved {save_path}")
    return 0


def resume_model(save_path, model_config: ModelConfig, state: dict, config: TrainConfig) -> MLPAutoencoder:
    model = checkpoint.load_model(save_path)
    if model.config != model_config:
        raise UserError(f"cannot resume: {save_path} holds a model of another shape "
                        f"({model.config}); use the flags of the original run")
    saved = TrainConfig.from_dict(state["train_config"])
    if saved.epochs > config.epochs:
        raise UserError(f"cannot resume: {save_path} was trained to {saved.epochs} epochs; "
                        f"pass -e {saved.epochs} or more")
    if int(state["epoch"]) != len(state["history"]["losses"]):
        raise UserError(f"cannot resume: {checkpoint.state_path(save_path)} is inconsistent")
    return model
