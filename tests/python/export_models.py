"""Small metric maps written so that PyTorch 1.13 (Debian) and 2.x (.venv) build the
same modules: an MLP decoder, a conv decoder like the paper's, and a classifier head
with LayerNorm and GELU. Weights travel between the two as .npz."""
import numpy as np
import torch
from torch import nn


class Unflatten(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape((x.shape[0],) + tuple(self.shape))


def build(name):
    if name == "mlp":
        return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 20))
    if name == "conv":
        return nn.Sequential(nn.Linear(4, 8 * 4 * 4), nn.ReLU(), Unflatten((8, 4, 4)),
                             nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.ReLU(),
                             nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1), nn.Sigmoid())
    if name == "head":
        return nn.Sequential(nn.Linear(5, 24), nn.LayerNorm(24), nn.GELU(), nn.Linear(24, 7))
    raise ValueError(name)


LATENT_DIM = {"mlp": 6, "conv": 4, "head": 5}
MODELS = sorted(LATENT_DIM)


def make(name, weights=None, seed=0):
    torch.manual_seed(seed)
    m = build(name).eval()
    if weights is not None:
        state = {k: torch.from_numpy(np.array(v)) for k, v in np.load(weights).items()}
        m.load_state_dict(state)
    return m


def save_weights(model, path):
    np.savez(path, **{k: v.detach().numpy() for k, v in model.state_dict().items()})


if __name__ == "__main__":
    # Run by Debian's /usr/bin/python3 (PyTorch 1.13): argv = name weights.npz out.pt
    import sys
    name, weights, out = sys.argv[1:4]
    torch.jit.script(make(name, weights)).save(out)
