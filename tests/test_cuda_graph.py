"""The CUDA-graph step learns what the eager step learns; its warm-up leaves no trace.

The warm-up undo and the portable run state are device-agnostic and run everywhere; the
graph replays themselves need a GPU and are skipped without one.
"""

import pytest
import torch

from aelab.models import registry
from aelab.models.config import ModelConfig
from aelab.models.mlp.model import MLPAutoencoder, init_lab_weights
from aelab.training.batches import MemoryBatches
from aelab.training.config import RunConfig, TrainConfig
from aelab.training.cuda_graph import GraphedStep, make_capturable, portable_state, warm_up_and_undo
from aelab.training.fused_step import FusedStep
from aelab.training.fused_vae_step import FusedVAEStep
from aelab.training.plain_loop import make_optimizer
from aelab.training.runtime import make_runtime
from aelab.training.trainer import Trainer

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def lab_model(device="cpu", seed=0):
    torch.manual_seed(seed)
    model = MLPAutoencoder(ModelConfig())
    init_lab_weights(model)
    return model.to(device)


def fused_step(device="cpu", **options):
    settings = {"lr": 1e-3, "weight_decay": 1e-5, **options}
    return FusedStep(lab_model(device), **settings)


def state_tensors(step):
    return [t for s in step.optimizer.state.values() for t in s.values()]


def fused_vae_step():
    torch.manual_seed(0)
    model = registry.build(ModelConfig(family="vae", hidden=64, bottleneck=8))
    return FusedVAEStep(model, lr=1e-3, weight_decay=0.0, binarize=True)


STEPS = {"mlp": fused_step, "mlp, noisy inputs": lambda: fused_step(train_noise=0.3), "vae, binarised": fused_vae_step}


@pytest.mark.parametrize("kind", STEPS)
def test_undone_warm_up_leaves_the_same_run_as_none(kind):
    """Two warm-up steps, undone: the next steps match a run that never warmed up, bit for bit
    (random draws included: the input noise, the binarisation, a VAE's codes)."""
    images = torch.rand(3, 100, 784).pow(3)
    plain, warmed = STEPS[kind](), STEPS[kind]()
    torch.manual_seed(7)
    expected = [plain(batch) for batch in images]
    torch.manual_seed(7)
    warm_up_and_undo(warmed, images[0], [warmed.flat], warmed.optimizer)
    assert all(torch.equal(t, torch.zeros_like(t)) for t in state_tensors(warmed))  # fresh Adam state
    got = [warmed(batch) for batch in images]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert torch.equal(plain.flat, warmed.flat)
    assert all(torch.equal(a, b) for a, b in zip(state_tensors(plain), state_tensors(warmed)))


def test_undo_restores_running_adam_state_in_place():
    step = fused_step()
    images = torch.rand(64, 784)
    step(images)
    before = [t.clone() for t in state_tensors(step)]
    addresses = [t.data_ptr() for t in state_tensors(step)]
    flat_before = step.flat.detach().clone()
    warm_up_and_undo(step, images, [step.flat], step.optimizer)
    assert [t.data_ptr() for t in state_tensors(step)] == addresses  # a graph keeps these
    assert all(torch.equal(a, b) for a, b in zip(before, state_tensors(step)))
    assert torch.equal(step.flat, flat_before)


def test_saved_state_holds_plain_numbers_and_loads_where_capture_never_ran():
    step = fused_step()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(step.optimizer, "min")
    make_capturable(step.optimizer, torch.device("cpu"))
    assert torch.is_tensor(step.optimizer.param_groups[0]["lr"])
    step.optimizer.param_groups[0]["lr"].fill_(5e-4)
    scheduler.step(1.0)
    saved_optimizer = portable_state(step.optimizer.state_dict())
    saved_scheduler = portable_state(scheduler.state_dict())
    group = saved_optimizer["param_groups"][0]
    assert group["lr"] == pytest.approx(5e-4) and type(group["lr"]) is float
    assert group["capturable"] is False
    assert all(not torch.is_tensor(v) for v in saved_scheduler["_last_lr"])
    fresh = fused_step()
    fresh.optimizer.load_state_dict(saved_optimizer)
    assert fresh.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)


def test_batch_sizes_are_the_full_and_the_short_one():
    data = torch.zeros(10, 4)
    assert MemoryBatches(data, 4, torch.Generator()).batch_sizes() == [2, 4]
    assert MemoryBatches(data, 5, torch.Generator()).batch_sizes() == [5]
    assert MemoryBatches(data, 64, torch.Generator()).batch_sizes() == [10]


def test_cpu_runtime_keeps_the_eager_step():
    step = fused_step()
    assert make_runtime("cpu").graphed(step) is step


@needs_cuda
def test_graph_replays_match_the_eager_step():
    """Same kernels, same inputs: replays and eager calls agree over full and short batches."""
    images = torch.rand(5, 256, 784, device="cuda").pow(3)
    eager, graphed = fused_step("cuda"), GraphedStep(fused_step("cuda"))
    make_capturable(eager.optimizer, torch.device("cuda"))  # both read lr from the GPU
    for index, batch in enumerate(images):
        batch = batch[:100] if index == 3 else batch  # a short batch gets its own graph
        torch.testing.assert_close(graphed(batch).clone(), eager(batch).clone(), rtol=1e-5, atol=1e-7)
    assert sorted(graphed.captured) == [100, 256]
    torch.testing.assert_close(graphed.step.flat, eager.flat, rtol=1e-4, atol=1e-6)


@needs_cuda
def test_each_replay_draws_fresh_noise():
    """A graph must not freeze the random numbers it drew while being captured."""
    images = torch.rand(256, 784, device="cuda")
    graphed = GraphedStep(fused_step("cuda", lr=1e-3, train_noise=0.3))
    graphed(images)
    graphed.optimizer.param_groups[0]["lr"].fill_(0.0)  # no learning: only the noise moves the loss
    losses = [graphed(images).item() for _ in range(3)]
    assert len(set(losses)) == 3
    assert max(losses) < 1.5 * min(losses)


@needs_cuda
def test_a_new_learning_rate_reaches_the_graph_without_a_new_capture():
    images = torch.rand(256, 784, device="cuda")
    graphed = GraphedStep(fused_step("cuda"))
    graphed(images)
    graphed.optimizer.param_groups[0]["lr"].fill_(0.0)
    before = graphed.step.flat.detach().clone()
    graphed(images)
    assert torch.equal(graphed.step.flat, before)  # lr 0: Adam moves nothing
    graphed.optimizer.param_groups[0]["lr"] = 1e-3  # as a scheduler of an older torch sets it
    graphed(images)
    assert not torch.equal(graphed.step.flat, before)
    assert torch.is_tensor(graphed.optimizer.param_groups[0]["lr"])
    assert len(graphed.captured) == 1


@needs_cuda
def test_trainer_on_gpu_learns_what_autograd_learns():
    """First-step parameters of the graphed fused step and the autograd step agree (allclose)."""
    data = torch.rand(300, 784, device="cuda").pow(3)
    runtime = make_runtime("cuda")
    config = TrainConfig(epochs=1, batch_size=300, seed=0)
    fast_model, reference = lab_model("cuda"), lab_model("cuda")
    run = RunConfig(model=fast_model.config, train=config)
    trainer = Trainer(fast_model, run, runtime, MemoryBatches(data, 300, torch.Generator("cuda")))
    assert isinstance(trainer.step, GraphedStep)
    trainer.prepare()
    graphs = {size: id(captured.graph) for size, captured in trainer.step.captured.items()}
    trainer.prepare()  # fit calls it again: nothing new is captured
    assert graphs == {size: id(captured.graph) for size, captured in trainer.step.captured.items()}
    assert list(graphs) == [300]
    assert torch.equal(next(fast_model.parameters()), next(reference.parameters()))  # warm-up undone
    trainer.step(data)
    optimizer = make_optimizer(reference, config)
    reference.loss(data, data, "mse").backward()
    optimizer.step()
    for (name, p), q in zip(reference.named_parameters(), fast_model.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6, msg=name)


@needs_cuda
def test_gpu_run_state_resumes_into_the_same_run(tmp_path):
    data = torch.rand(600, 784, device="cuda").pow(3)
    runtime = make_runtime("cuda")

    def trainer(epochs):
        generator = torch.Generator("cuda")
        generator.manual_seed(0)
        config = TrainConfig(epochs=epochs, batch_size=256, seed=0)
        model = lab_model("cuda")
        return Trainer(model, RunConfig(model=model.config, train=config), runtime, MemoryBatches(data, 256, generator))

    straight = trainer(4)
    straight.fit()
    first = trainer(2)
    first.fit()
    path = tmp_path / "state.pt"
    torch.save({**first.run_state(), "model": first.model.state_dict()}, path)
    saved = torch.load(path, weights_only=True, map_location="cpu")
    second = trainer(4)
    second.model.load_state_dict(saved["model"])
    second.restore(saved)
    second.fit()
    assert len(second.history.losses) == 4
    torch.testing.assert_close(second.history.losses, straight.history.losses, rtol=1e-5, atol=0)
