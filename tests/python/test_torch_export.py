"""relgeo on maps saved by the PyTorch users have: TorchScript from PyTorch 2.x and from
1.13, and torch.export + AOTInductor packages (.pt2). Each map is saved during the run
and relgeo's representations are compared with PyTorch's own forward-based
computation of the straight-line length (docs/design.md §1.2) to 1e-5."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
import export_models  # noqa: E402
from package_fixtures import reference_lengths  # noqa: E402

RELGEO = os.environ.get("RELGEO_CLI", "build/tools/relgeo")
DEBIAN_PYTHON = "/usr/bin/python3"
STEPS = 6


def relgeo_encode(tmp, map_path, latents, anchors, distance="euclidean", extra=()):
    np.save(tmp / "z.npy", latents)
    np.save(tmp / "a.npy", anchors)
    out = tmp / "r.npy"
    cmd = [RELGEO, "encode", "--map", str(map_path), "--anchor-latents", str(tmp / "a.npy"),
           "--latents", str(tmp / "z.npy"), "--out", str(out), "--steps", str(STEPS),
           "--distance", distance, *extra]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return np.load(out)


def data(name, n=5, k=7, seed=1):
    rng = np.random.default_rng(seed)
    d = export_models.LATENT_DIM[name]
    return rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((k, d)).astype(np.float32)


def check_close(got, want):
    assert got.shape == want.shape
    err = np.abs(got - want).max()
    assert err <= 1e-5 * max(1.0, np.abs(want).max()), f"max error {err}"


def export_pt2(model, d, path):
    ep = torch.export.export(model, (torch.randn(3, d),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    return torch._inductor.aoti_compile_and_package(ep, package_path=str(path))


@pytest.mark.parametrize("name", export_models.MODELS)
def test_torchscript_from_current_pytorch(tmp_path, name):
    model = export_models.make(name)
    path = tmp_path / f"{name}.pt"
    torch.jit.script(model).save(str(path))
    z, a = data(name)
    check_close(relgeo_encode(tmp_path, path, z, a), reference_lengths(model, z, a, STEPS))


@pytest.mark.skipif(not os.path.exists(DEBIAN_PYTHON), reason="needs Debian's python3-torch (tools/setup.sh)")
@pytest.mark.parametrize("name", export_models.MODELS)
def test_torchscript_from_pytorch_1_13(tmp_path, name):
    model = export_models.make(name)
    export_models.save_weights(model, tmp_path / "w.npz")
    path = tmp_path / f"{name}-1.13.pt"
    run = subprocess.run([DEBIAN_PYTHON, export_models.__file__, name, str(tmp_path / "w.npz"), str(path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    z, a = data(name)
    check_close(relgeo_encode(tmp_path, path, z, a), reference_lengths(model, z, a, STEPS))


@pytest.mark.parametrize("name", export_models.MODELS)
def test_aoti_package(tmp_path, name):
    model = export_models.make(name)
    path = export_pt2(model, export_models.LATENT_DIM[name], tmp_path / f"{name}.pt2")
    # One row (below the exported batch's minimum of 2) and a batch of several.
    for n in (1, 5):
        z, a = data(name, n=n)
        check_close(relgeo_encode(tmp_path, path, z, a), reference_lengths(model, z, a, STEPS))
    if name == "head":
        z, a = data(name)
        check_close(relgeo_encode(tmp_path, path, z, a, distance="fisher"),
                    reference_lengths(model, z, a, STEPS, distance="fisher"))


def test_aoti_package_with_static_batch(tmp_path):
    """Exported without a dynamic batch: relgeo splits and pads to the exported size."""
    model = export_models.make("mlp")
    ep = torch.export.export(model, (torch.randn(4, 6),))
    path = torch._inductor.aoti_compile_and_package(ep, package_path=str(tmp_path / "static.pt2"))
    z, a = data("mlp", n=9)
    check_close(relgeo_encode(tmp_path, path, z, a), reference_lengths(model, z, a, STEPS))


def test_exported_program_without_aoti_is_refused(tmp_path):
    model = export_models.make("mlp")
    ep = torch.export.export(model, (torch.randn(3, 6),))
    path = tmp_path / "program.pt2"
    torch.export.save(ep, str(path))
    z, a = data("mlp")
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "a.npy", a)
    run = subprocess.run([RELGEO, "encode", "--map", str(path), "--anchor-latents", str(tmp_path / "a.npy"),
                          "--latents", str(tmp_path / "z.npy"), "--out", str(tmp_path / "r.npy")],
                         capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert "aoti_compile_and_package" in run.stderr
    assert not (tmp_path / "r.npy").exists()
