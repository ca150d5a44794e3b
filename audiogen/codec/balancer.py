"""Gradient balancer (EnCodec paper; audiocraft): loss weights become shares of the gradient.

All balanced losses depend on the model only through its output `y` (the decoded audio). For
each loss i the balancer takes g_i = d loss_i / d y, tracks an exponential moving average of
its norm, and back-propagates

    G = sum_i  R * (w_i / sum_j w_j) * g_i / EMA(||g_i||)

through the model, so that loss i contributes about w_i / sum(w) of the gradient whatever its
natural scale. ||g_i|| is the L2 norm over each batch item, averaged over the batch (and over
ranks when distributed). The EMA is bias-corrected (at the first step it equals the norm).
Losses outside the balancer (the codec's commitment loss) are added to the same backward pass.
"""

from __future__ import annotations

import torch
from torch import autograd

from audiogen import distributed


class Balancer:
    """Args:
        weights: loss name -> weight (only the ratios matter).
        total_norm: R, the norm of the combined gradient on average.
        ema_decay: decay of the norm averages.
        eps: added to the norm average before dividing.
    """

    def __init__(self, weights: dict[str, float], total_norm: float = 1.0,
                 ema_decay: float = 0.999, eps: float = 1e-12):
        if not weights or sum(weights.values()) <= 0:
            raise ValueError(f"balancer weights must be positive, got {weights}")
        self.weights = dict(weights)
        self.total_norm = total_norm
        self.ema_decay = ema_decay
        self.eps = eps
        # EMA state: decayed sum of norms (a float64 tensor on the device once updated: no
        # host read per step) and decayed count (host); their ratio is the bias-corrected mean
        self._sum: dict[str, torch.Tensor | float] = {}
        self._count: dict[str, float] = {}

    def _update_ema(self, norms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for name, value in norms.items():
            self._sum[name] = self._sum.get(name, 0.0) * self.ema_decay + value
            self._count[name] = self._count.get(name, 0.0) * self.ema_decay + 1.0
            out[name] = self._sum[name] / self._count[name]
        return out

    def backward(self, losses: dict[str, torch.Tensor], output: torch.Tensor,
                 other_loss: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Back-propagate the balanced gradient of `losses` through `output` (plus `other_loss`
        unbalanced, in the same backward pass) and return metrics (0-dim tensors, read when
        logged): the scale applied to each loss (`balancer/scale/NAME`) and the share of the
        gradient norm it had before balancing (`balancer/share/NAME`)."""
        missing = set(losses) - set(self.weights)
        if missing:
            raise KeyError(f"no balancer weight for {sorted(missing)}")
        grads, norms = {}, []
        for name, loss in losses.items():
            (grad,) = autograd.grad(loss, [output], retain_graph=True)
            grads[name] = grad
            norms.append(grad.flatten(1).norm(dim=1).mean())
        # float64 as the host arithmetic was; averaged over ranks on the device
        norms = distributed.all_reduce_sum_(torch.stack(norms).double()) / distributed.world_size()
        averages = self._update_ema(dict(zip(losses, norms)))
        total_weight = sum(self.weights[name] for name in losses)
        combined = torch.zeros_like(output)
        metrics = {}
        norm_sum = sum(averages.values())
        norm_sum = torch.where(norm_sum > 0, norm_sum, 1.0)
        for name, grad in grads.items():
            scale = (self.total_norm * self.weights[name] / total_weight
                     / (self.eps + averages[name]))
            combined.add_(grad * scale.to(grad.dtype))
            metrics[f"balancer/scale/{name}"] = scale
            metrics[f"balancer/share/{name}"] = averages[name] / norm_sum
        tensors, grad_tensors = [output], [combined]
        if other_loss is not None and other_loss.requires_grad:
            tensors.append(other_loss)
            grad_tensors.append(torch.ones_like(other_loss))
        # One backward call: data-parallel gradient hooks see a single pass.
        autograd.backward(tensors, grad_tensors)
        return metrics

    def state_dict(self) -> dict:
        return {"sum": {k: float(v) for k, v in self._sum.items()}, "count": dict(self._count)}

    def load_state_dict(self, state: dict) -> None:
        self._sum = {k: float(v) for k, v in state["sum"].items()}
        self._count = {k: float(v) for k, v in state["count"].items()}
