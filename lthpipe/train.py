"""Training a stack of networks together, with optional fixed masks.

Every network in the stack keeps its own parameters, mask and optimizer state:
each network's gradient is that of its own mean loss, and Adam/SGD update
elementwise. Networks share only the minibatch order, which comes from
``order_seed``. Gradients come from ``model.backward`` into buffers that live
for the whole run, not from autograd.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from dataclasses import dataclass
from typing import Protocol

import torch

from lthpipe import numerics
from lthpipe.datasets import Splits
from lthpipe.errors import Refused
from lthpipe.model import Params, backward, forward_with_activations
from lthpipe.settings import TrainSettings

log = logging.getLogger(__name__)

EVAL_CHUNK = 4096
# Elementwise kernels (Adam's fused step, SGD's foreach ops) run the last
# numel % vector-width elements of a tensor through scalar code, which rounds
# differently (no fused multiply-add): the last network of a stack would train to
# other bits than the same network elsewhere in a stack, or alone. Every trained
# tensor lives at the start of a buffer of a whole number of PAD elements (a
# multiple of every CPU's float vector width), so no network's weight is ever in a tail.
PAD = 64


@dataclass
class History:
    """Metrics at each evaluation point; tensors are (points, N)."""

    iterations: list[int]  # the evaluation points: iterations done when evaluated
    steps_per_epoch: int
    budget: int  # the iterations the settings allow (training may stop sooner under patience)
    train_loss: torch.Tensor  # mean minibatch loss since the previous point
    val_loss: torch.Tensor
    val_acc: torch.Tensor
    best: torch.Tensor  # (N,) index of each network's early-stopping point
    stopped: list[int | None]  # the iteration where patience ended each network, None if it ran on

    def best_iterations(self) -> list[int]:
        return [self.iterations[i] for i in self.best.tolist()]


@dataclass
class TrainResult:
    """The weights at each network's early-stopping point, test accuracy there and
    at the end, the history, and the rewind point's state if one was asked for."""

    best: Params
    history: History
    test_acc: torch.Tensor  # (N,) at the early-stopping point
    final_test_acc: torch.Tensor  # (N,) after the last iteration
    rewind: RewindPoint | None = None
    final: Params | None = None  # the weights after the last iteration
    best_mask: Params | None = None  # (bool) each network's mask at its early-stopping point, with a mask update

    def metrics(self) -> dict[str, list]:
        h = self.history
        nets = torch.arange(h.val_acc.shape[1])
        return {
            "best_iteration": h.best_iterations(),
            "budget": [h.budget] * len(nets),
            "stopped_iteration": h.stopped,
            "val_acc": h.val_acc[h.best, nets].tolist(),
            "val_loss": h.val_loss[h.best, nets].tolist(),
            "test_acc": self.test_acc.tolist(),
            "final_val_acc": h.val_acc[-1].tolist(),
            "final_test_acc": self.final_test_acc.tolist(),
            "history": [
                {"iteration": list(h.iterations), "steps_per_epoch": h.steps_per_epoch, "train_loss": loss,
                 "val_loss": val_loss, "val_acc": val_acc}
                for loss, val_loss, val_acc in zip(h.train_loss.T.tolist(), h.val_loss.T.tolist(), h.val_acc.T.tolist())
            ],
        }


@dataclass
class RewindPoint:
    """Where late rewinding restarts: the weights after `iteration` steps and the
    minibatch generator's state at the start of the epoch holding the next step."""

    iteration: int
    params: Params
    order_state: torch.Tensor  # torch.Generator.get_state(), uint8


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        # The workflow refuses this where jobs run on its machine (lthpipe.feasibility);
        # here a cluster node, or a torch build, without CUDA.
        raise Refused(f"device: cuda, but this machine ({platform.node()}) has no CUDA device torch "
                      f"{torch.__version__} can use; set device: auto or cpu")
    return torch.device(name)


@torch.no_grad()
def accuracy(params: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Accuracy (N,) of every network in the stack."""
    return evaluate(params, x, y)[0]


@torch.no_grad()
def evaluate(params: Params, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and mean cross-entropy (N,) of every network in the stack."""
    n_nets = params["w0"].shape[0]
    correct = torch.zeros(n_nets, device=x.device)
    loss = torch.zeros(n_nets, device=x.device)
    for start in range(0, x.shape[0], EVAL_CHUNK):
        logits, _ = forward_with_activations(params, x[start : start + EVAL_CHUNK])  # (N, classes, b)
        target = y[start : start + EVAL_CHUNK]
        correct += (logits.argmax(1) == target).sum(-1)
        log_probs = torch.log_softmax(logits, 1)
        loss -= log_probs.gather(1, target.expand(n_nets, 1, -1)).squeeze(1).sum(-1)
    return (correct / x.shape[0]).cpu(), (loss / x.shape[0]).cpu()


def cross_entropy_with_grad(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each network's mean cross-entropy (N,) over the batch, and its gradient w.r.t.
    the logits; both logits and gradient are feature-major, (N, classes, B)."""
    # In a padded buffer, so that exp runs every network's elements through the
    # same (vector) code in every stack (PAD).
    buffer = torch.zeros(_padded_numel(logits.numel()), dtype=logits.dtype, device=logits.device)
    log_probs = _start(buffer, logits.shape)
    torch.log_softmax(logits, 1, out=log_probs)
    target = y.expand(logits.shape[0], 1, -1)  # (N, 1, B)
    loss = -log_probs.gather(1, target).squeeze(1).mean(1)
    buffer.exp_()
    grad = log_probs.scatter_add_(1, target, torch.full_like(target, -1, dtype=logits.dtype)).div_(y.shape[0])
    return loss, grad


class FusedAdam:
    """What ``torch.optim.Adam(fused=True)`` does at each step for one device and
    dtype, called directly: the same kernel with the same arguments, so the same
    bits (tests/test_train.py), without the ~135 µs of Python the optimizer spends
    per step on hooks, checks and state lookups, a third of a small network's step.
    Using torch.optim also imports torch._dynamo, 2-3 s of a job's start."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = params
        self.grads = [p.grad for p in params]  # buffers that live for the whole run
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in params]

    def step(self) -> None:
        torch._foreach_add_(self.steps, 1)
        torch._fused_adam_(
            self.params, self.grads, self.exp_avg, self.exp_avg_sq, [], self.steps,
            amsgrad=False, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps,
            maximize=False, grad_scale=None, found_inf=None,
        )


def _optimizer(settings: TrainSettings, tensors: list[torch.Tensor]) -> FusedAdam | torch.optim.Optimizer:
    if settings.optimizer == "adam":
        # The fused kernel updates a whole stacked tensor in one pass: ~2x faster steps on CPU.
        return FusedAdam(tensors, lr=settings.lr)
    return torch.optim.SGD(tensors, lr=settings.lr, momentum=0.9)


class MaskUpdate(Protocol):
    """A rule that changes masks during training (lthpipe.regrowth: SET, RigL)."""

    def __call__(self, iteration: int, params: Params, grads: Params, mask: Params) -> Params | None:
        """Called before every step, `iteration` steps in, with the minibatch's dense
        gradients; may rewrite `mask` (float 0/1) in place and returns the entries (bool,
        per weight) whose weights and optimizer state restart at zero, or None."""
        ...


def train_stack(
    init: Params,
    data: Splits,
    settings: TrainSettings,
    order_seed: int,
    masks: dict[str, torch.Tensor] | None = None,
    device: torch.device | None = None,
    resume: RewindPoint | None = None,
    rewind_at: int | None = None,
    mask_update: MaskUpdate | None = None,
) -> TrainResult:
    """Train every network of the stack for the settings' budget and keep the weights
    of each network's early-stopping point (best validation accuracy, first on ties,
    or lowest validation loss). With ``settings.patience``, a network whose score has
    not improved for that many evaluations stops counting (its early-stopping point
    is final, as if it had stopped alone) and the stack stops when all have.

    ``masks`` maps weight names to 0/1 tensors shaped like the weights. Masked
    weights start at zero and stay exactly zero: their gradients are zeroed before
    each step, so neither Adam's moments nor SGD's momentum ever move them.
    ``resume`` starts at a rewind point's iteration and minibatch order (late
    rewinding: the weights come from ``init``); ``rewind_at`` keeps that point's
    state for a later resume. ``mask_update`` may change the masks before a step;
    the entries it restarts are zeroed in the weights and the optimizer's state, so
    the masked weights still stay exactly zero, and each network's mask at its
    early-stopping point comes back as ``best_mask``.
    """
    device = device or torch.device("cpu")
    data = data.to(device)
    buffers = {k: _padded(v.detach().to(device)) for k, v in init.items()}
    params = {k: _start(buffer, v.shape) for (k, buffer), v in zip(buffers.items(), init.values())}
    mask = {k: m.to(device=device, dtype=params[k].dtype) for k, m in (masks or {}).items()}
    for k, m in mask.items():
        params[k].mul_(m)
    for buffer in buffers.values():
        buffer.grad = torch.zeros_like(buffer)  # the optimizer reads them; backward() overwrites them each step
    grads = {k: _start(buffers[k].grad, v.shape) for k, v in params.items()}
    optimizer = _optimizer(settings, list(buffers.values()))

    n_nets = params["w0"].shape[0]
    n_train = data.x_train.shape[0]
    per_epoch = settings.steps_per_epoch(n_train)
    total = settings.total_iterations(n_train)
    points = settings.eval_points(n_train)
    iteration = resume.iteration if resume is not None else 0
    points = [p for p in points if p > iteration]
    order = torch.Generator()
    if resume is not None:
        order.set_state(resume.order_state)
    else:
        order.manual_seed(order_seed)
    epoch_state = order.get_state()
    perm = torch.randperm(n_train, generator=order).to(device)
    batch = iteration % per_epoch  # minibatch index within the epoch

    by_loss = settings.early_stopping == "val_loss"
    best = {k: v.clone() for k, v in params.items()}
    best_mask = {k: m.clone() for k, m in mask.items()} if mask_update is not None else None
    best_score = torch.full((n_nets,), math.inf if by_loss else -1.0)
    best_point = torch.zeros(n_nets, dtype=torch.long)
    since_best = torch.zeros(n_nets, dtype=torch.long)  # evaluations without improvement
    active = torch.ones(n_nets, dtype=torch.bool)
    stopped: list[int | None] = [None] * n_nets
    losses, val_losses, val_accs = [], [], []
    loss_sum = torch.zeros(n_nets, device=device)
    seen = 0
    rewind = None
    started = time.monotonic()

    while iteration < total:
        if batch == per_epoch:
            epoch_state = order.get_state()
            perm = torch.randperm(n_train, generator=order).to(device)
            batch = 0
        if iteration == rewind_at:
            rewind = RewindPoint(iteration, {k: v.detach().cpu().clone() for k, v in params.items()}, epoch_state)
        idx = perm[batch * settings.batch_size : (batch + 1) * settings.batch_size]
        # index_select copies whole rows: twice as fast as x_train[idx] on CPU.
        x, y = data.x_train.index_select(0, idx), data.y_train.index_select(0, idx)  # (B, d), (B,)
        logits, hidden = forward_with_activations(params, x)  # (N, classes, B)
        per_net, dlogits = cross_entropy_with_grad(logits, y)
        backward(params, x, hidden, dlogits, grads)
        if mask_update is not None:
            restart = mask_update(iteration, params, grads, mask)
            if restart:
                _restart(optimizer, params, restart)
        for k, m in mask.items():
            grads[k].mul_(m)
        optimizer.step()  # a weight whose every gradient was zero stays zero: its moments are zero too
        loss_sum += per_net * idx.numel()
        seen += idx.numel()
        iteration += 1
        batch += 1
        if iteration != points[len(losses)]:
            continue
        val_acc, val_loss = evaluate(params, data.x_val, data.y_val)
        score = val_loss if by_loss else val_acc
        improved = (score < best_score if by_loss else score > best_score) & active
        for k, v in params.items():
            keep = improved.to(device).view(-1, *([1] * (v.dim() - 1)))
            best[k] = torch.where(keep, v, best[k])
        if best_mask is not None:
            for k, m in mask.items():
                best_mask[k] = torch.where(improved.to(device).view(-1, 1, 1), m, best_mask[k])
        best_score = torch.where(improved, score, best_score)
        best_point = torch.where(improved, len(losses), best_point)
        losses.append((loss_sum / seen).cpu())
        val_losses.append(val_loss)
        val_accs.append(val_acc)
        loss_sum.zero_()
        seen = 0
        log.info("epoch %s: val acc mean %.4f, val loss mean %.4f (iteration %d of %d, %.1f s)",
                 _epochs(iteration, per_epoch), val_acc.mean().item(), val_loss.mean().item(), iteration, total,
                 time.monotonic() - started)
        if settings.patience is not None:
            since_best = torch.where(improved, 0, since_best + 1)
            for i in (active & (since_best >= settings.patience)).nonzero().flatten().tolist():
                stopped[i] = iteration
            active &= since_best < settings.patience
            if not active.any():
                log.info("patience %d: every network has stopped (iteration %d of %d)", settings.patience,
                         iteration, total)
                break

    history = History(points[: len(losses)], per_epoch, total, torch.stack(losses), torch.stack(val_losses),
                      torch.stack(val_accs), best_point, stopped)
    test_acc = accuracy(best, data.x_test, data.y_test)
    final_test_acc = accuracy(params, data.x_test, data.y_test)
    return TrainResult({k: v.cpu() for k, v in best.items()}, history, test_acc, final_test_acc, rewind,
                       final={k: v.detach().cpu().clone() for k, v in params.items()},
                       best_mask=None if best_mask is None else {k: m.cpu() > 0 for k, m in best_mask.items()})


def _restart(optimizer: FusedAdam | torch.optim.Optimizer, params: Params, restart: Params) -> None:
    """Zero the weights and the optimizer's state (Adam's moments, SGD's momentum) at the
    entries `restart` marks (bool, shaped like the weights): a connection that appears
    or disappears starts from nothing."""
    position = {k: i for i, k in enumerate(params)}
    for k, entries in restart.items():
        params[k].masked_fill_(entries, 0)
        if isinstance(optimizer, FusedAdam):
            states = [optimizer.exp_avg[position[k]], optimizer.exp_avg_sq[position[k]]]
        else:
            state = optimizer.state[optimizer.param_groups[0]["params"][position[k]]]
            states = [state["momentum_buffer"]] if "momentum_buffer" in state else []
        for tensor in states:
            # The state is shaped like what the optimizer steps: the weight itself, or a
            # flat buffer that starts with it.
            tensor.view(-1)[: entries.numel()].view(entries.shape).masked_fill_(entries, 0)


def _padded(tensor: torch.Tensor) -> torch.Tensor:
    """A flat copy of `tensor` followed by zeros, PAD elements a block. The zeros
    have zero gradients, so the optimizer never moves them."""
    buffer = torch.zeros(_padded_numel(tensor.numel()), dtype=tensor.dtype, device=tensor.device)
    buffer[: tensor.numel()].copy_(tensor.reshape(-1))
    return buffer


def _padded_numel(numel: int) -> int:
    return math.ceil(numel / PAD) * PAD


def _start(buffer: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The view of a padded buffer that holds the tensor (contiguous, so kernels can write into it)."""
    return buffer[: shape.numel()].view(shape)


def _epochs(iteration: int, per_epoch: int) -> str:
    """Epochs done, as a whole number at epoch ends (what the logs have always said)."""
    epochs = iteration / per_epoch
    return str(iteration // per_epoch) if iteration % per_epoch == 0 else f"{epochs:.2f}"


def describe_compute(device: str) -> dict:
    """What a training job ran on; its bits depend on the device and the thread count,
    and on a GPU on which GPU and which CUDA and cuDNN builds ran it."""
    resolved = resolve_device(device)
    compute = {"device": str(resolved), "threads": torch.get_num_threads(), "torch": torch.__version__,
               **numerics.describe()}
    if resolved.type == "cuda":
        # Called in the job's own process (a child of the warm worker), never before the fork.
        compute.update({
            "gpu": torch.cuda.get_device_name(resolved), "capability": list(torch.cuda.get_device_capability(resolved)),
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        })
    return compute
