"""Point features as a torch module: raw padded (x, y, t) + the layouts' key table → features.

Computed on the model's device, so the data pipeline carries raw points only, one model
serves several layouts (each swipe looks up its own grid), and an exported model includes
its features. Named sets (DESIGN.md):

| name           | per point                                                              |
| -------------- | ---------------------------------------------------------------------- |
| `traj`         | x, y in the letter-key box; dt; vx, vy, ax, ay (central differences    |
|                | over t), the last five standardised with training-data statistics      |
| `nearest`      | embedding of the nearest letter key's character                        |
| `traj_nearest` | `traj` ⊕ `nearest` (default)                                           |
| `google2015`   | x, y, dt ⊕ `nearest`                                                   |
| `indiswipe`    | x, y, vx, vy ⊕ `nearest`                                               |
| `weighted`     | `traj` ⊕ Σ_k w_k·emb_k, w_k = σ(−1.8·(d_k − 2.2)), d_k = distance to   |
|                | key k / mean key half-diagonal                                         |
| `distances`    | `traj` ⊕ linear(d_1 … d_K), one input per alphabet character           |
| `gaussian`     | `traj` ⊕ Σ_k w_k·emb_k, w_k from a trainable 2-D Gaussian per character |
| `spatial_nearest` | x, y; dx, dy (central differences over points, not time: ×10) ⊕  |
|                | `nearest`; no time channel, so the sampling rate cannot show         |

Keys are addressed by *character* (token id), not by slot, so the same letter on two
layouts shares its embedding and its weights.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor, nn

from swipe.lexicon import PAD
from swipe.model.keys import KeyTable

FeatureSet = Literal["traj", "nearest", "traj_nearest", "google2015", "indiswipe", "weighted",
                     "distances", "gaussian", "spatial_nearest"]
FEATURE_SETS: tuple[str, ...] = get_args(FeatureSet)
DYNAMIC = ("dt", "vx", "vy", "ax", "ay")  # standardised trajectory features
FAR = 10.0  # distance (in half-diagonals) standing in for a key the layout lacks


def _central_diff(v: Tensor, t: Tensor, mask: Tensor) -> Tensor:
    """dv/dt by central differences, one-sided at both ends of each swipe.  # (B, T)

    Padding sits after the last point, so a point's next neighbour is itself when the
    next slot is padding: padded values never reach a valid point.
    """
    nxt_ok = torch.zeros_like(mask)
    nxt_ok[:, :-1] = mask[:, 1:]
    idx = torch.arange(v.shape[1], device=v.device).expand_as(v)
    nxt = torch.where(nxt_ok, idx + 1, idx).clamp(max=v.shape[1] - 1)
    prv = (idx - 1).clamp(min=0)
    dv = v.gather(1, nxt) - v.gather(1, prv)
    dt = (t.gather(1, nxt) - t.gather(1, prv)).clamp(min=1.0)  # ms; avoids /0 on 1-point rows
    return torch.where(mask, dv / dt, torch.zeros_like(v))


def trajectory(x: Tensor, y: Tensor, t: Tensor, mask: Tensor, bbox: Tensor) -> Tensor:
    """Unstandardised trajectory features [x, y, dt, vx, vy, ax, ay].  # (B, T, 7)

    x, y, t, mask: (B, T); bbox: (B, 4) letter-key box of each swipe's layout.
    """
    xn = (x - bbox[:, 0:1]) / (bbox[:, 2:3] - bbox[:, 0:1])
    yn = (y - bbox[:, 1:2]) / (bbox[:, 3:4] - bbox[:, 1:2])
    dt = torch.zeros_like(t)
    dt[:, 1:] = t[:, 1:] - t[:, :-1]
    vx, vy = _central_diff(xn, t, mask), _central_diff(yn, t, mask)
    ax, ay = _central_diff(vx, t, mask), _central_diff(vy, t, mask)
    feats = torch.stack([xn, yn, dt, vx, vy, ax, ay], -1)
    return feats * mask.unsqueeze(-1)


class PointFeatures(nn.Module):
    """One named feature set. forward(x, y, t, mask, grid) → (B, T, out_dim)."""

    def __init__(self, feature_set: FeatureSet, keys: KeyTable, vocab_size: int, d_key: int,
                 stats_mean: np.ndarray | None = None, stats_std: np.ndarray | None = None):
        super().__init__()
        if feature_set not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {feature_set!r}; choose from {FEATURE_SETS}")
        self.feature_set = feature_set
        self.set_keys(keys)
        # standardisation of DYNAMIC features; saved in the state dict with the weights
        mean = np.zeros(len(DYNAMIC), np.float32) if stats_mean is None else stats_mean
        std = np.ones(len(DYNAMIC), np.float32) if stats_std is None else stats_std
        self.register_buffer("stats_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("stats_std", torch.as_tensor(std, dtype=torch.float32))
        uses_keys = feature_set not in ("traj",)
        self.key_emb = nn.Embedding(vocab_size, d_key) if uses_keys else None
        self.dist_proj = nn.Linear(vocab_size, d_key) if feature_set == "distances" else None
        if feature_set == "gaussian":  # per character: centre offset and log-spread, in half-diagonals
            self.gauss_mu = nn.Parameter(torch.zeros(vocab_size, 2))
            self.gauss_log_sigma = nn.Parameter(torch.zeros(vocab_size, 2))
        self.out_dim = {"traj": 7, "nearest": d_key, "traj_nearest": 7 + d_key, "google2015": 3 + d_key,
                        "indiswipe": 4 + d_key, "weighted": 7 + d_key, "distances": 7 + d_key,
                        "gaussian": 7 + d_key, "spatial_nearest": 4 + d_key}[feature_set]

    def set_keys(self, keys: KeyTable) -> None:
        """Decode over these layouts: the key table is data, not a weight. Every feature is in
        the layout's own units (x, y in the letter-key box, distances and the trainable
        Gaussians in key half-diagonals, keys by character), so a model reads a layout it was
        not trained on, at any size, as long as it knows the letters (KeyTable.build checks)."""
        device = self.stats_mean.device if hasattr(self, "stats_mean") else None
        for name, value in (("centres", keys.centres), ("key_tokens", keys.tokens), ("bbox", keys.bbox),
                            ("half_diag", keys.half_diag)):
            tensor = torch.from_numpy(value)
            self.register_buffer(name, tensor if device is None else tensor.to(device))
        # read by the key head only; not in the state dict, so models saved before it load
        sizes = torch.from_numpy(keys.sizes)
        self.register_buffer("key_sizes", sizes if device is None else sizes.to(device), persistent=False)

    def set_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.stats_mean.copy_(torch.tensor(np.array(mean, dtype=np.float32)))  # copies: arrays may be read-only
        self.stats_std.copy_(torch.tensor(np.array(std, dtype=np.float32)))

    def forward(self, x: Tensor, y: Tensor, t: Tensor, mask: Tensor, grid: Tensor) -> Tensor:
        """Each swipe over its own grid of the key table (`grid` (B,) indexes `grid_names`)."""
        return self.over_keys(x, y, t, mask, self.bbox[grid], self.centres[grid], self.key_tokens[grid],
                              self.half_diag[grid])

    def over_keys(self, x: Tensor, y: Tensor, t: Tensor, mask: Tensor, bbox: Tensor, centres: Tensor,
                  tokens: Tensor, half_diag: Tensor) -> Tensor:
        """Each swipe over keys given with it: bbox (B, 4), centres (B, K, 2), their tokens (B, K, PAD
        for no key), half_diag (B,) — a KeyTable's rows. What an exported model takes, so that it
        reads any layout."""
        raw = trajectory(x, y, t, mask, bbox)  # (B, T, 7)
        dyn = (raw[..., 2:] - self.stats_mean) / self.stats_std
        traj = torch.cat([raw[..., :2], dyn], -1) * mask.unsqueeze(-1)
        fs = self.feature_set
        if fs == "traj":
            return traj
        real_key = tokens != PAD  # (B, K)
        dx = x.unsqueeze(-1) - centres[:, None, :, 0]  # (B, T, K)
        dy = y.unsqueeze(-1) - centres[:, None, :, 1]
        half = half_diag[:, None, None]
        if fs in ("nearest", "traj_nearest", "google2015", "indiswipe", "spatial_nearest"):
            d2 = (dx * dx + dy * dy).masked_fill(~real_key[:, None, :], float("inf"))
            near_tok = tokens.gather(1, d2.argmin(-1))  # (B, T)
            near = self.key_emb(near_tok) * mask.unsqueeze(-1)
            if fs == "spatial_nearest":
                step = torch.arange(x.shape[1], device=x.device, dtype=x.dtype).expand_as(x)
                spatial = [10.0 * _central_diff(raw[..., i], step, mask) for i in (0, 1)]
                return torch.cat([raw[..., :2] * mask.unsqueeze(-1), torch.stack(spatial, -1), near], -1)
            pick = {"nearest": [], "traj_nearest": [traj], "google2015": [traj[..., :3]],
                    "indiswipe": [traj[..., :2], traj[..., 3:5]]}[fs]
            return torch.cat(pick + [near], -1)
        d = torch.sqrt(dx * dx + dy * dy) / half  # (B, T, K) in half-diagonals
        if fs == "distances":
            per_char = torch.full((*d.shape[:2], self.dist_proj.in_features), FAR, device=d.device, dtype=d.dtype)
            per_char.scatter_(2, tokens[:, None, :].expand_as(d), d.masked_fill(~real_key[:, None, :], FAR))
            per_char[..., PAD] = FAR  # padding slots all land on PAD: make it "no key"
            return torch.cat([traj, self.dist_proj(per_char.clamp(max=FAR)) * mask.unsqueeze(-1)], -1)
        if fs == "weighted":
            w = torch.sigmoid(-1.8 * (d - 2.2))
        else:  # gaussian: exp(-½ ‖(offset/half − μ_c) / σ_c‖²)
            mu = self.gauss_mu[tokens]  # (B, K, 2)
            sigma = self.gauss_log_sigma[tokens].exp()
            zx = (dx / half - mu[:, None, :, 0]) / sigma[:, None, :, 0]
            zy = (dy / half - mu[:, None, :, 1]) / sigma[:, None, :, 1]
            w = torch.exp(-0.5 * (zx * zx + zy * zy))
        w = w * real_key[:, None, :]
        mixed = torch.einsum("btk,bke->bte", w, self.key_emb(tokens)) * mask.unsqueeze(-1)
        return torch.cat([traj, mixed], -1)


def compute_stats(batches: list[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]], keys: KeyTable
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the DYNAMIC features over the valid points of (x, y, t, mask, grid) batches."""
    bbox = torch.from_numpy(keys.bbox)
    vals = []
    for x, y, t, mask, grid in batches:
        raw = trajectory(x, y, t, mask, bbox[grid])
        vals.append(raw[mask][:, 2:].double())
    allv = torch.cat(vals)
    return allv.mean(0).float().numpy(), allv.std(0).clamp(min=1e-6).float().numpy()
