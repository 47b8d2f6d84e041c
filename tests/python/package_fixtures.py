"""Shared by tests/python: small maps and latents, PyTorch's own straight-line lengths, exact top-k."""
import numpy as np
import torch


class Decoder(torch.nn.Module):
    """A small decoder-like metric map: d -> 48 -> 20 with relu and sigmoid."""

    def __init__(self, d=6, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.l1 = torch.nn.Linear(d, 48)
        self.l2 = torch.nn.Linear(48, 20)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        return torch.sigmoid(self.l2(torch.relu(self.l1(x))))


def latents(n, d=6, seed=1):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def reference_lengths(model, z, a, steps, distance="euclidean"):
    """r[i, k] = sum_j delta(f(g_{j-1}), f(g_j)) on the straight line z_i -> a_k, float64."""
    f = model.double()
    zt = torch.from_numpy(np.asarray(z, np.float64))
    at = torch.from_numpy(np.asarray(a, np.float64))
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    with torch.no_grad():
        pts = zt[:, None, None, :] + t[None, None, :, None] * (at[None, :, None, :] - zt[:, None, None, :])
        y = f(pts.reshape(-1, zt.shape[1])).reshape(zt.shape[0], at.shape[0], steps + 1, -1)
        if distance == "fisher":
            y = torch.exp((y - torch.logsumexp(y, dim=-1, keepdim=True)) / 2)
            chord = (y[:, :, 1:] - y[:, :, :-1]).norm(dim=-1)
            seg = 4 * torch.asin(torch.clamp(chord / 2, max=1))
        else:
            seg = (y[:, :, 1:] - y[:, :, :-1]).norm(dim=-1)
    model.float()
    return seg.sum(-1).numpy()


def cosine_topk(reps_db, reps_q, k):
    """Exact cosine top-k ids (the Flat index's answer), ties aside."""
    a = reps_db / np.linalg.norm(reps_db, axis=1, keepdims=True)
    q = reps_q / np.linalg.norm(reps_q, axis=1, keepdims=True)
    s = q @ a.T
    return np.argsort(-s, axis=1, kind="stable")[:, :k], np.sort(s, axis=1)[:, ::-1][:, :k]
