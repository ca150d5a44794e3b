"""Residual vector quantizer (RVQ) with EMA-updated codebooks, as in SoundStream and EnCodec.

Stage k quantizes the residual left by stages 0..k-1 to the nearest of `bins` vectors, so each
added stage refines the approximation of the latent and adds log2(bins) bits per frame.

Codebooks learn without gradients: in training mode each forward pass
  1. on the very first batch, initialises the codebook by k-means (`kmeans_iters` iterations);
  2. moves the EMA statistics (decay `decay`) of each code's usage (`cluster_size`) and of the
     sum of the vectors assigned to it (`embed_avg`) towards this batch's, and sets each code to
     their ratio, with Laplace smoothing of the usage so unused codes do not divide by zero;
  3. replaces codes whose EMA usage fell under `threshold_ema_dead_code` by random vectors of
     the current batch.
Evaluation mode never changes a buffer. The gradient reaches the encoder through the
straight-through estimator and the commitment loss ||x - sg(q)||^2.

Two deliberate differences from the reference (audiocraft / encodec), both training-only:
- there, step 3 writes only `embed`, which step 2 then overwrites within the same call, so dead
  codes are never actually replaced. Here step 3 runs after step 2 and also resets the
  replaced codes' `embed_avg` and `cluster_size` (to the threshold), so replacement holds.
- there, k-means sets `embed_avg` to the means although it is a running sum (means x counts),
  which shrinks every code towards zero for the first few hundred steps. Here it is the sum.
Encoding and decoding are unaffected; the buffers keep the reference's names (`inited`,
`cluster_size`, `embed`, `embed_avg`), so a state dict resumes training exactly.

With small batches the threshold matters: the EMA usage of a code tends to the number of
vectors assigned to it per batch (summed over processes), about B*F / bins on average, so a
batch of B*F vectors much smaller than 2 * bins keeps replacing rarely used codes.

Distributed training (torch.distributed initialised, world size > 1): the batch statistics of
step 2 are summed over all processes (all-reduce) before the EMA, k-means and dead-code
replacement are computed on rank 0 and broadcast, and the random number of active codebooks is
broadcast from rank 0, so every process holds identical codebooks at every step.

Host reads (each one a stall on a GPU): once initialised, a training forward reads the device
once, the dead-code counts of all its codebooks together, because a count decides how many
random vectors are drawn (drawing a fixed number instead would change the random stream, and
with it every run's numbers). The replacements wait for that read at the end of the forward,
which changes no number: nothing between draws from the random generator or reads the replaced
codes. With several processes the broadcast number of active codebooks is read too.
The forward pass computes in float32 also under autocast (mixed-precision training): the
distances, EMA statistics and commitment loss need the precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from audiogen import distributed


def _sample_vectors(samples: torch.Tensor, num: int) -> torch.Tensor:
    """`num` random rows of samples [N, D] (without replacement when N allows)."""
    n = samples.shape[0]
    if n >= num:
        index = torch.randperm(n, device=samples.device)[:num]
    else:
        index = torch.randint(0, n, (num,), device=samples.device)
    return samples[index]


def _nearest(x: torch.Tensor, embed: torch.Tensor) -> torch.Tensor:
    """Index of the nearest row of embed [bins, D] for each row of x [N, D] -> [N]."""
    # The squared distance is written as in the reference (including the per-row constant
    # ||x||^2) so that rounding, and therefore ties, come out the same: codes match exactly.
    dist_ = x.pow(2).sum(1, keepdim=True) - 2 * x @ embed.t() + embed.pow(2).sum(1)[None]
    return dist_.argmin(dim=-1)


def kmeans(samples: torch.Tensor, num_clusters: int, num_iters: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on samples [N, D] -> (means [num_clusters, D], counts [num_clusters]).

    Starts from random samples; a cluster that loses all its points keeps its previous mean.
    """
    means = _sample_vectors(samples, num_clusters)
    counts = torch.zeros(num_clusters, device=samples.device)
    for _ in range(num_iters):
        assign = _nearest(samples, means)
        counts = torch.bincount(assign, minlength=num_clusters).to(samples.dtype)
        sums = torch.zeros_like(means).index_add_(0, assign, samples)
        empty = counts == 0
        means = torch.where(empty[:, None], means, sums / counts.clamp(min=1)[:, None])
    return means, counts


class Codebook(nn.Module):
    """One EMA codebook of `bins` vectors of size `dim`; works on flat vectors [N, D]."""

    def __init__(self, dim: int, bins: int, decay: float, epsilon: float, kmeans_init: bool,
                 kmeans_iters: int, threshold_ema_dead_code: float):
        super().__init__()
        self.bins, self.decay, self.epsilon = bins, decay, epsilon
        self.kmeans_iters = kmeans_iters
        self.threshold_ema_dead_code = threshold_ema_dead_code
        if kmeans_init:
            embed = torch.zeros(bins, dim)
        else:
            embed = nn.init.kaiming_uniform_(torch.empty(bins, dim))
        # float flag, as in the reference's state dicts
        self.register_buffer("inited", torch.tensor([float(not kmeans_init)]))
        self.register_buffer("cluster_size", torch.zeros(bins))
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())
        # `inited` as last read on the host: once True, training steps stop reading the buffer
        # (a read per forward would stall a GPU); a state load may change it, so it resets
        self._inited_on_host = False

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Vectors [N, D] -> codes [N] (long)."""
        return _nearest(x, self.embed)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [...] -> vectors [..., D]."""
        return F.embedding(codes, self.embed)

    def _broadcast_buffers(self) -> None:
        for buf in (self.inited, self.cluster_size, self.embed, self.embed_avg):
            distributed.broadcast_(buf)

    @torch.no_grad()
    def initialise(self, x: torch.Tensor) -> None:
        """k-means on the first training batch x [N, D] (no-op once initialised)."""
        if self._inited_on_host or bool(self.inited.item()):
            self._inited_on_host = True
            return
        means, counts = kmeans(x, self.bins, self.kmeans_iters)
        self.embed.copy_(means)
        self.embed_avg.copy_(means * counts[:, None])  # a running *sum*, consistent with counts
        self.cluster_size.copy_(counts)
        self.inited.fill_(1.0)
        self._inited_on_host = True
        self._broadcast_buffers()  # every process starts from rank 0's codebook

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._inited_on_host = False
        super()._load_from_state_dict(*args, **kwargs)

    @property
    def needs_init(self) -> bool:
        """Whether `initialise` may still run k-means (known on the host, no read)."""
        return not self._inited_on_host

    @torch.no_grad()
    def update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """EMA step with vectors x [N, D] assigned to codes [N] (dead codes are replaced
        afterwards, by `replace_dead_codes`)."""
        counts = torch.bincount(codes, minlength=self.bins).to(x.dtype)
        sums = torch.zeros_like(self.embed).index_add_(0, codes, x)
        distributed.all_reduce_sum_(counts)
        distributed.all_reduce_sum_(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.bins * self.epsilon) * total
        self.embed.copy_(self.embed_avg / smoothed[:, None])

    def dead_codes(self) -> torch.Tensor:
        """Mask [bins] of the codes whose EMA usage fell under the threshold (on the device)."""
        return self.cluster_size < self.threshold_ema_dead_code

    @torch.no_grad()
    def replace_dead_codes(self, x: torch.Tensor, dead: torch.Tensor, n_dead: int) -> None:
        """Give the `n_dead` codes of mask `dead` [bins] random vectors of x [N, D].

        `n_dead` (read by the caller) is identical on every process: cluster_size is synced.
        """
        if n_dead == 0:
            return
        fresh = _sample_vectors(x, n_dead)
        # the i-th dead code takes fresh[i], as `embed[dead] = fresh` would, but without the
        # mask's indices being read back to the host
        taken = fresh[(dead.cumsum(0) - 1).clamp(min=0)]
        self.embed.copy_(torch.where(dead[:, None], taken, self.embed))
        self.embed_avg.copy_(torch.where(dead[:, None], taken * self.threshold_ema_dead_code,
                                         self.embed_avg))
        self.cluster_size.masked_fill_(dead, self.threshold_ema_dead_code)
        self._broadcast_buffers()


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # [B, D, F] sum of the active stages' vectors (straight-through)
    codes: torch.Tensor  # [B, K_active, F] long
    commitment_loss: torch.Tensor  # scalar: mean over stages of ||residual - sg(q)||^2
    metrics: dict[str, float] = field(default_factory=dict)


class ResidualVectorQuantizer(nn.Module):
    """K EMA codebooks applied to successive residuals; latent [B, D, F] <-> codes [B, K, F]."""

    def __init__(self, dim: int, n_q: int, bins: int, decay: float = 0.99,
                 epsilon: float = 1e-5, kmeans_init: bool = True, kmeans_iters: int = 50,
                 threshold_ema_dead_code: float = 2.0, random_active_codebooks: bool = False):
        super().__init__()
        self.n_q, self.bins, self.dim = n_q, bins, dim
        self.random_active_codebooks = random_active_codebooks
        self.codebooks = nn.ModuleList(
            Codebook(dim, bins, decay, epsilon, kmeans_init, kmeans_iters,
                     threshold_ema_dead_code) for _ in range(n_q))

    def _active_codebooks(self) -> int:
        if not (self.training and self.random_active_codebooks):
            return self.n_q
        # drawn by the host's generator (seeded with the device's), so nothing is read back
        n = torch.randint(1, self.n_q + 1, (1,))
        if distributed.is_distributed():  # all processes must update the same codebooks
            n = distributed.broadcast_(n.to(self.codebooks[0].embed.device))
        return int(n.tolist()[0])

    def _replace_dead_codes(self, pending: list[tuple[Codebook, torch.Tensor]]) -> int:
        """Replace the dead codes of the (codebook, its input vectors [N, D]) pairs, in order,
        after one read of all their counts; returns the number of codes replaced."""
        pending = [(book, x) for book, x in pending if book.threshold_ema_dead_code > 0]
        if not pending:
            return 0
        dead = [book.dead_codes() for book, _ in pending]
        counts = torch.stack([d.sum() for d in dead]).tolist()
        for (book, x), mask, n_dead in zip(pending, dead, counts):
            book.replace_dead_codes(x, mask, n_dead)
        return sum(counts)

    def forward(self, latent: torch.Tensor) -> QuantizerOutput:
        """Quantize latent [B, D, F]; in training mode this also updates the codebooks."""
        assert latent.dim() == 3 and latent.shape[1] == self.dim, latent.shape
        with torch.autocast(latent.device.type, enabled=False):
            return self._quantize(latent.float())

    def _quantize(self, latent: torch.Tensor) -> QuantizerOutput:
        batch, dim, frames = latent.shape
        x = latent.transpose(1, 2).reshape(-1, dim)  # [B*F, D]
        n_q = self._active_codebooks()
        residual = x
        quantized = torch.zeros_like(x)
        codes, losses, replaced = [], [], 0
        pending: list[tuple[Codebook, torch.Tensor]] = []  # dead codes to replace
        for codebook in self.codebooks[:n_q]:
            if self.training:
                if codebook.needs_init:  # k-means draws after the replacements before it
                    replaced += self._replace_dead_codes(pending)
                    pending = []
                codebook.initialise(residual.detach())
            index = codebook.encode(residual.detach())
            q = codebook.decode(index)
            if self.training:
                codebook.update(residual.detach(), index)
                pending.append((codebook, residual.detach()))
            # the residual keeps its gradient path to the encoder for the commitment loss
            losses.append(F.mse_loss(residual, q.detach()))
            residual = residual - q.detach()
            quantized = quantized + q.detach()
            codes.append(index)
        replaced += self._replace_dead_codes(pending)
        if self.training:  # straight-through: forward value q, gradient of the identity
            quantized = x + (quantized - x).detach()
        quantized = quantized.view(batch, frames, dim).transpose(1, 2)
        codes_ = torch.stack(codes, dim=1).view(batch, frames, n_q).transpose(1, 2)
        metrics = {"vq/active_codebooks": float(n_q), "vq/dead_codes_replaced": float(replaced)}
        return QuantizerOutput(quantized, codes_, torch.stack(losses).mean(), metrics)

    @torch.no_grad()
    def encode(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent [B, D, F] -> codes [B, K, F] (long), all K codebooks, no update."""
        batch, dim, frames = latent.shape
        residual = latent.transpose(1, 2).reshape(-1, dim)
        codes = []
        for codebook in self.codebooks:
            index = codebook.encode(residual)
            residual = residual - codebook.decode(index)
            codes.append(index)
        return torch.stack(codes, dim=1).view(batch, frames, -1).transpose(1, 2)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, K', F] with K' <= K -> latent [B, D, F] (sum of the first K' stages)."""
        assert codes.dim() == 3 and codes.shape[1] <= self.n_q, codes.shape
        latent = self.codebooks[0].decode(codes[:, 0])
        for k in range(1, codes.shape[1]):
            latent = latent + self.codebooks[k].decode(codes[:, k])
        return latent.transpose(1, 2)  # [B, F, D] -> [B, D, F]
