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
import time
from dataclasses import dataclass

import torch

from lthpipe.datasets import Splits
from lthpipe.model import Params, backward, forward_with_activations
from lthpipe.settings import TrainSettings

log = logging.getLogger(__name__)

EVAL_CHUNK = 4096


@dataclass
class History:
    """Metrics at each evaluation point; tensors are (points, N)."""

    iterations: list[int]  # the evaluation points: iterations done when evaluated
    steps_per_epoch: int
    train_loss: torch.Tensor  # mean minibatch loss since the previous point
    val_loss: torch.Tensor
    val_acc: torch.Tensor
    best: torch.Tensor  # (N,) index of each network's early-stopping point

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

    def metrics(self) -> dict[str, list]:
        h = self.history
        nets = torch.arange(h.val_acc.shape[1])
        return {
            "best_iteration": h.best_iterations(),
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
    log_probs = torch.log_softmax(logits, 1)
    target = y.expand(logits.shape[0], 1, -1)  # (N, 1, B)
    loss = -log_probs.gather(1, target).squeeze(1).mean(1)
    grad = log_probs.exp_().scatter_add_(1, target, torch.full_like(target, -1, dtype=logits.dtype)).div_(y.shape[0])
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


def train_stack(
    init: Params,
    data: Splits,
    settings: TrainSettings,
    order_seed: int,
    masks: dict[str, torch.Tensor] | None = None,
    device: torch.device | None = None,
    resume: RewindPoint | None = None,
    rewind_at: int | None = None,
) -> TrainResult:
    """Train every network of the stack for the settings' budget and keep the weights
    of each network's early-stopping point (best validation accuracy, first on ties,
    or lowest validation loss).

    ``masks`` maps weight names to 0/1 tensors shaped like the weights. Masked
    weights start at zero and stay exactly zero: their gradients are zeroed before
    each step, so neither Adam's moments nor SGD's momentum ever move them.
    ``resume`` starts at a rewind point's iteration and minibatch order (late
    rewinding: the weights come from ``init``); ``rewind_at`` keeps that point's
    state for a later resume.
    """
    device = device or torch.device("cpu")
    data = data.to(device)
    params = {k: v.detach().to(device).clone() for k, v in init.items()}
    mask = {k: m.to(device=device, dtype=params[k].dtype) for k, m in (masks or {}).items()}
    for k, m in mask.items():
        params[k].mul_(m)
    grads = {k: torch.zeros_like(v) for k, v in params.items()}
    for k, p in params.items():
        p.grad = grads[k]  # the optimizer reads them; backward() overwrites them each step
    optimizer = _optimizer(settings, list(params.values()))

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
    best_score = torch.full((n_nets,), math.inf if by_loss else -1.0)
    best_point = torch.zeros(n_nets, dtype=torch.long)
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
        improved = score < best_score if by_loss else score > best_score
        for k, v in params.items():
            keep = improved.to(device).view(-1, *([1] * (v.dim() - 1)))
            best[k] = torch.where(keep, v, best[k])
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

    history = History(points, per_epoch, torch.stack(losses), torch.stack(val_losses), torch.stack(val_accs), best_point)
    test_acc = accuracy(best, data.x_test, data.y_test)
    final_test_acc = accuracy(params, data.x_test, data.y_test)
    return TrainResult({k: v.cpu() for k, v in best.items()}, history, test_acc, final_test_acc, rewind)


def _epochs(iteration: int, per_epoch: int) -> str:
    """Epochs done, as a whole number at epoch ends (what the logs have always said)."""
    epochs = iteration / per_epoch
    return str(iteration // per_epoch) if iteration % per_epoch == 0 else f"{epochs:.2f}"
