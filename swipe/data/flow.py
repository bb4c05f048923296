"""A learned generator: rectified flow over real people's deviations from a word's ideal path.

What is learned is what `swipe/data/transplant.py` copies from one donor: at `points` arc
positions along the word's ideal key-centre path, the deviation (key units, along and across
the path) and the share of the movement time spent there; and per swipe, the movement time,
the dwells at landing and lift-off and the touch interval (logs, broadcast along the path).
It is conditioned on the path's geometry only (position, direction, corners and their turns,
segment and total lengths), so it draws for any word on any layout.

The network is a dilated 1-D residual convnet with the flow time as FiLM, trained with the
rectified-flow objective (straight paths from noise to data, velocity regression) and sampled
with a few Euler steps. The sample is rendered into touch events by `transplant.render`, the
same code that renders a donor.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from swipe import storage
from swipe.data.swipes import SwipeBatch
from swipe.data.transplant import (LENGTH_FLOOR, TransplantConfig, _along, _frames, _knots, donor_of, geometry,
                                   render, to_batch, word_paths)
from swipe.keyboard import Layout

X_CHANNELS = 7  # along, across, log time share, then log move, dwell start, dwell end, interval (broadcast)
C_CHANNELS = 10
BUMP = 0.03  # arc-fraction width of the corner channels


@dataclass(frozen=True)
class FlowConfig:
    """The network's size and its training run."""

    points: int = 64  # arc positions the flow works at
    width: int = 64  # channels of each residual block
    blocks: int = 6  # residual blocks (dilations 1, 2, 4, …)
    kernel: int = 5  # convolution width, in positions
    steps: int = 3000  # training steps
    batch: int = 256  # swipes per step
    lr: float = 2e-3  # AdamW's learning rate
    seed: int = 0  # seed of the initial weights and the batches


def conditions(path: np.ndarray, points: int) -> np.ndarray:
    """The geometry channels of a path (key units) at `points` arc positions.  # (C_CHANNELS, points)"""
    u = np.linspace(0.0, 1.0, points)
    lengths, turns = geometry(path)
    knots = _knots(lengths)
    pos = _along(path, u)
    pos = (pos - pos.mean(0)) / 3.0
    tangent = _frames(path, u)
    near = np.exp(-(((u[:, None] - knots[None, :]) / BUMP) ** 2))  # (points, m + 1)
    turn = near[:, 1:-1] @ turns if len(turns) else np.zeros(points)
    seg = np.clip(np.searchsorted(knots, u, side="right") - 1, 0, max(len(lengths) - 1, 0))
    seg_len = np.log(lengths[seg] + LENGTH_FLOOR) if len(lengths) else np.full(points, math.log(LENGTH_FLOOR))
    const = np.ones(points)
    return np.stack([pos[:, 0], pos[:, 1], tangent[:, 0], tangent[:, 1], near.sum(1), turn / math.pi, seg_len,
                     const * math.log(lengths.sum() + LENGTH_FLOOR), const * len(lengths) / 10.0, u]).astype(np.float32)


def encode(offsets: np.ndarray, profile: np.ndarray, timing: np.ndarray) -> np.ndarray:
    """A donor's fields as the flow's data channels.  # (X_CHANNELS, points)"""
    k = len(profile)
    share = np.log(np.concatenate([[0.0], np.diff(profile)]) * (k - 1) + 0.02)
    g = np.log(np.array([timing[0] + 5.0, timing[1] + 5.0, timing[2] + 5.0, timing[3]]))
    return np.concatenate([offsets.T, share[None], np.repeat(g[:, None], k, 1)]).astype(np.float32)


def decode(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of `encode` for one sample: offsets (K, 2), profile (K,), timing (4,)."""
    inc = np.maximum(np.exp(x[2]) - 0.02, 0.0)
    inc[0] = 0.0
    profile = np.cumsum(inc)
    profile = profile / profile[-1] if profile[-1] > 0 else np.linspace(0.0, 1.0, len(inc))
    g = np.exp(x[3:].mean(1))
    timing = np.array([g[0] - 5.0, g[1] - 5.0, g[2] - 5.0, g[3]]).clip(min=[1.0, 0.0, 0.0, 4.0])
    return x[:2].T.astype(np.float64), profile, timing


class _Block(nn.Module):
    def __init__(self, width: int, kernel: int, dilation: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, width)
        self.conv1 = nn.Conv1d(width, width, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, h: torch.Tensor, film: torch.Tensor) -> torch.Tensor:
        scale, shift = film.unsqueeze(-1).chunk(2, dim=1)
        z = self.conv1(nn.functional.gelu(self.norm(h)))
        return h + self.conv2(nn.functional.gelu(z * (1 + scale) + shift))


class FlowNet(nn.Module):
    """Velocity field v(x_s, s | geometry) over (X_CHANNELS, points)."""

    def __init__(self, width: int = 64, blocks: int = 6, kernel: int = 5):
        super().__init__()
        self.inp = nn.Conv1d(X_CHANNELS + C_CHANNELS, width, 1)
        self.time = nn.Sequential(nn.Linear(16, width), nn.SiLU(), nn.Linear(width, 2 * width * blocks))
        self.blocks = nn.ModuleList(_Block(width, kernel, 2 ** (i % 4)) for i in range(blocks))
        self.out = nn.Conv1d(width, X_CHANNELS, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, s: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), 8, device=x.device))
        emb = torch.cat([torch.sin(s[:, None] * freqs), torch.cos(s[:, None] * freqs)], 1)
        films = self.time(emb).chunk(len(self.blocks), dim=1)
        h = self.inp(torch.cat([x, cond], 1))
        for block, film in zip(self.blocks, films):
            h = block(h, film)
        return self.out(h)


@dataclass
class Flow:
    """A trained flow: the network, the data channels' mean and spread, how it was made."""

    net: FlowNet
    mean: np.ndarray  # (X_CHANNELS,)
    std: np.ndarray
    cfg: FlowConfig
    info: dict[str, Any]

    def save(self, path: str) -> int:
        buf = io.BytesIO()
        state = {k: v.half() if v.is_floating_point() else v for k, v in self.net.state_dict().items()}
        torch.save({"state": state, "mean": self.mean, "std": self.std, "config": asdict(self.cfg),
                    "info": self.info}, buf)
        storage.write_bytes(path, buf.getvalue())
        return len(buf.getvalue())

    @classmethod
    def load(cls, path: str) -> "Flow":
        blob = torch.load(io.BytesIO(storage.read_bytes(path)), weights_only=False)
        cfg = FlowConfig(**blob["config"])
        net = FlowNet(cfg.width, cfg.blocks, cfg.kernel)
        net.load_state_dict({k: v.float() for k, v in blob["state"].items()})
        net.eval()
        return cls(net, blob["mean"], blob["std"], cfg, blob["info"])

    @torch.no_grad()
    def sample(self, cond: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
        """Data-channel samples for a batch of conditions (B, C, K), Euler-integrated from noise.  # (B, X, K)"""
        c = torch.from_numpy(cond)
        x = torch.from_numpy(rng.standard_normal((len(cond), X_CHANNELS, cond.shape[2])).astype(np.float32))
        for i in range(steps):
            s = torch.full((len(cond),), i / steps)
            x = x + self.net(x, s, c) / steps
        return x.numpy() * self.std[None, :, None] + self.mean[None, :, None]


@lru_cache(maxsize=2)
def load_flow(path: str) -> Flow:
    """A flow, read once per process."""
    torch.set_num_threads(1)  # one Ray task per core
    return Flow.load(path)


def training_arrays(batch: SwipeBatch, layouts: dict[str, Layout], points: int) -> tuple[np.ndarray, np.ndarray]:
    """Every labelled swipe on a known keyboard as (data, condition) channel arrays.  # (N, X, K), (N, C, K)"""
    from swipe.data.transplant import ideal_path

    xs, cs = [], []
    for i, (word, grid) in enumerate(zip(batch.words, batch.grid_names)):
        if word is None or grid not in layouts:
            continue
        s, e = batch.offsets[i], batch.offsets[i + 1]
        d = donor_of(batch.x[s:e], batch.y[s:e], batch.t[s:e], word, layouts[grid], points)
        if d is None:
            continue
        xs.append(encode(d.offsets, d.profile, np.array([d.move_ms, d.dwell_start_ms, d.dwell_end_ms,
                                                         d.interval_ms])))
        cs.append(conditions(ideal_path(word, layouts[grid]), points))
    return np.stack(xs), np.stack(cs)


def train_flow(data: np.ndarray, cond: np.ndarray, cfg: FlowConfig, log_every: int = 250) -> tuple[Flow, list]:
    """Fit the velocity field by rectified flow; returns the flow and its loss curve."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mean = data.mean((0, 2))
    std = data.std((0, 2)) + 1e-6
    x1_all = torch.from_numpy((data - mean[None, :, None]) / std[None, :, None])
    c_all = torch.from_numpy(cond)
    net = FlowNet(cfg.width, cfg.blocks, cfg.kernel)
    opt = torch.optim.AdamW(net.parameters(), cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    curve, running, t0 = [], 0.0, time.perf_counter()
    for step in range(cfg.steps):
        idx = torch.from_numpy(rng.integers(0, len(data), cfg.batch))
        x1, c = x1_all[idx], c_all[idx]
        x0 = torch.randn_like(x1)
        s = torch.rand(len(x1))
        xs = (1 - s[:, None, None]) * x0 + s[:, None, None] * x1
        loss = nn.functional.mse_loss(net(xs, s, c), x1 - x0)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if (step + 1) % log_every == 0:
            curve.append({"step": step + 1, "loss": round(running / log_every, 4),
                          "s": round(time.perf_counter() - t0, 1)})
            print(f"[flow] step {step + 1}/{cfg.steps} loss {running / log_every:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            running = 0.0
    net.eval()
    info = {"rows": len(data), "params": sum(p.numel() for p in net.parameters()),
            "train_s": round(time.perf_counter() - t0, 1), "curve": curve}
    return Flow(net, mean, std, cfg, info), curve


def generate_learned(words: list[str], layout: Layout, flow: Flow, cfg: TransplantConfig, rng: np.random.Generator,
                     steps: int, jitter: float = 0.08, drop_prob: float = 0.13, first_id: int = 0,
                     source: str = "learned", chunk: int = 1024) -> SwipeBatch:
    """One swipe per word on `layout`, drawn from the flow; deterministic for the state of `rng`."""
    paths = word_paths(words, layout)
    swipes = []
    for c in range(0, len(paths), chunk):
        part = paths[c:c + chunk]
        x = flow.sample(np.stack([conditions(p, flow.cfg.points) for p in part]), steps, rng)
        for p, xi in zip(part, x):
            offsets, profile, timing = decode(xi)
            swipes.append(render(p, layout, offsets, profile, timing, None, cfg, jitter, drop_prob, rng))
    return to_batch(words, layout, swipes, first_id, source)
