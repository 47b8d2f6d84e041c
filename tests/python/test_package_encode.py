"""relgeo.encode and relgeo.Encoder from Python: agreement with PyTorch's own
computation and with the C++ command line, every input kind, zero copy, progress,
threads and the GIL."""
import io
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import relgeo
from package_fixtures import Decoder, latents, reference_lengths

RELGEO = os.environ.get("RELGEO_CLI", "build/tools/relgeo")
STEPS = 5


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("encode")
    model = Decoder()
    path = d / "map.pt"
    torch.jit.script(model).save(str(path))
    z, a = latents(40, seed=1), latents(9, seed=2)
    return model, path, z, a, d


@pytest.mark.parametrize("distance", ["euclidean", "fisher"])
def test_matches_pytorch_reference(setup, distance):
    model, path, z, a, _ = setup
    r = relgeo.encode(str(path), a, z, steps=STEPS, distance=distance)
    assert r.shape == (40, 9) and r.dtype == np.float32
    np.testing.assert_allclose(r, reference_lengths(model, z, a, STEPS, distance), rtol=1e-5, atol=1e-6)


def test_matches_the_command_line(setup):
    _, path, z, a, d = setup
    np.save(d / "z.npy", z)
    np.save(d / "a.npy", a)
    subprocess.run([RELGEO, "encode", "--map", str(path), "--anchor-latents", str(d / "a.npy"), "--latents",
                    str(d / "z.npy"), "--out", str(d / "r.npy"), "--steps", str(STEPS)], check=True,
                   capture_output=True)
    np.testing.assert_allclose(relgeo.encode(path, a, z, steps=STEPS), np.load(d / "r.npy"), rtol=1e-6, atol=1e-7)


def test_every_map_kind_gives_the_same_representations(setup):
    model, path, z, a, _ = setup
    want = relgeo.encode(str(path), a, z, steps=STEPS)
    maps = {
        "pathlike": path,
        "bytes": path.read_bytes(),
        "module": model,
        "scripted": torch.jit.script(model),
    }
    for name, m in maps.items():
        np.testing.assert_allclose(relgeo.encode(m, a, z, steps=STEPS), want, rtol=1e-6, err_msg=name)


def test_exported_program_is_compiled_for_the_user(setup):
    model, _, z, a, _ = setup
    ep = torch.export.export(model, (torch.zeros(4, 6),),
                             dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1 << 20)}})
    want = reference_lengths(model, z, a, STEPS)
    np.testing.assert_allclose(relgeo.encode(ep, a, z, steps=STEPS), want, rtol=1e-5, atol=1e-6)


def test_every_input_kind(setup):
    _, path, z, a, _ = setup
    enc = relgeo.Encoder(path, a, steps=STEPS)
    want = enc.encode(z)
    assert isinstance(want, np.ndarray)
    wide = np.zeros((z.shape[0], 2 * z.shape[1]), np.float32)
    wide[:, ::2] = z
    inputs = {
        "float64": z.astype(np.float64),
        "fortran": np.asfortranarray(z),
        "strided": wide[:, ::2],
        "list": z.tolist(),
    }
    for name, x in inputs.items():
        np.testing.assert_allclose(enc.encode(x), want, rtol=1e-6, err_msg=name)
    for dtype in (torch.float32, torch.float64):
        t = torch.from_numpy(z).to(dtype).requires_grad_(True)
        r = enc.encode(t)
        assert isinstance(r, torch.Tensor) and r.dtype == torch.float32
        np.testing.assert_allclose(r.numpy(), want, rtol=1e-6)
    # anchors as a tensor too
    np.testing.assert_allclose(relgeo.encode(path, torch.from_numpy(a), z, steps=STEPS), want, rtol=1e-6)


def test_float32_c_contiguous_inputs_are_not_copied(setup):
    _, _, z, _, _ = setup
    from relgeo._convert import as_matrix

    assert relgeo._core._input_address(z) == z.ctypes.data
    t = torch.from_numpy(z.copy())
    arr, _ = as_matrix(t, "latents")
    assert relgeo._core._input_address(arr) == t.data_ptr()
    z64 = z.astype(np.float64)
    assert relgeo._core._input_address(z64) != z64.ctypes.data  # converted, as documented
    zt = np.asfortranarray(z)
    assert relgeo._core._input_address(zt) != zt.ctypes.data


def test_results_are_handed_over_without_a_copy(setup):
    _, path, z, a, _ = setup
    r = relgeo.encode(path, a, torch.from_numpy(z), steps=STEPS)
    assert r.numpy().base is not None  # a view of the array relgeo made, not a copy of it


def test_cosine_method_is_the_cosine_baseline(setup):
    _, _, z, a, _ = setup
    want = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ (a / np.linalg.norm(a, axis=1, keepdims=True)).T
    np.testing.assert_allclose(relgeo.encode(None, a, z, method="cosine"), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(relgeo.eval.cosine_relative(a, z), want, rtol=1e-5, atol=1e-6)


def test_progress_is_reported_and_can_stop(setup):
    _, path, _, a, _ = setup
    z = latents(1000, seed=3)
    calls = []
    enc = relgeo.Encoder(path, a, steps=STEPS)
    r = enc.encode(z, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_allclose(r, enc.encode(z), rtol=1e-6)
    assert len(calls) >= 2 and calls[-1] == (1000, 1000)
    assert all(c1[0] < c2[0] for c1, c2 in zip(calls, calls[1:]))
    with pytest.raises(relgeo.FailedPreconditionError, match="stopped by its progress callback"):
        enc.encode(z, progress=lambda done, total: False)

    class Stop(Exception):
        pass

    def boom(done, total):
        raise Stop()

    with pytest.raises(Stop):
        enc.encode(z, progress=boom)


def test_a_tqdm_bar_works_as_progress(setup):
    tqdm = pytest.importorskip("tqdm")
    _, path, _, a, _ = setup
    z = latents(600, seed=4)
    bar = tqdm.tqdm(file=io.StringIO())
    relgeo.encode(path, a, z, steps=STEPS, progress=bar)
    assert bar.n == 600 and bar.total == 600


def test_threads_option_is_applied_and_restored(setup):
    _, path, z, a, _ = setup
    before = relgeo._core.threads()
    seen = []
    relgeo.encode(path, a, z, steps=STEPS, threads=1, progress=lambda d, t: seen.append(relgeo._core.threads()))
    assert seen and set(seen) == {1}
    assert relgeo._core.threads() == before


def test_encode_releases_the_gil_and_two_threads_agree(setup):
    _, path, _, a, _ = setup
    z = latents(3000, seed=5)
    enc = relgeo.Encoder(path, a, steps=32)
    want = enc.encode(z)
    results, ticks, done = [None, None], [0], threading.Event()

    def work(i):
        results[i] = enc.encode(z)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # runs only if encode let go of the GIL
        ticks[0] += 1
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, want)
    assert ticks[0] > 100


@pytest.mark.parametrize("order", ["import torch; import relgeo", "import relgeo; import torch"])
def test_both_import_orders(setup, order):
    _, path, z, a, d = setup
    np.save(d / "z.npy", z)
    np.save(d / "a.npy", a)
    code = (f"{order}; import numpy as np; "
            f"r = relgeo.encode({str(path)!r}, np.load({str(d / 'a.npy')!r}), torch.from_numpy(np.load({str(d / 'z.npy')!r})), steps={STEPS}); "
            "print(type(r).__name__, tuple(r.shape), float(r.sum()))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out[0] == "Tensor" and out[1:3] == ["(40,", "9)"]
    np.testing.assert_allclose(float(out[3]), relgeo.encode(path, a, z, steps=STEPS).sum(), rtol=1e-5)


def test_bad_input_raises_python_exceptions(setup, tmp_path):
    _, path, z, a, _ = setup
    with pytest.raises(ValueError, match="columns"):
        relgeo.encode(path, a, z[:, :4], steps=STEPS)
    bad = z.copy()
    bad[3, 2] = np.nan
    with pytest.raises(relgeo.InvalidArgumentError) as e:
        relgeo.encode(path, a, bad)
    assert e.value.code == "InvalidArgument" and isinstance(e.value, ValueError)
    with pytest.raises(ValueError, match="2-D"):
        relgeo.encode(path, a, z[0])
    with pytest.raises(ValueError, match="float32 or float64"):
        relgeo.encode(path, a, np.ones((3, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="steps"):
        relgeo.encode(path, a, z, steps=0)
    with pytest.raises(ValueError, match="distance"):
        relgeo.encode(path, a, z, distance="manhattan")
    with pytest.raises(ValueError, match="method"):
        relgeo.encode(path, a, z, method="procrustes")
    with pytest.raises(ValueError, match="precision"):
        relgeo.encode(path, a, z, precision="fp8")
    with pytest.raises(KeyError):
        relgeo.encode(str(tmp_path / "missing.pt"), a, z)
    (tmp_path / "junk.pt").write_bytes(b"not a model at all")
    with pytest.raises(relgeo.Error):
        relgeo.encode(str(tmp_path / "junk.pt"), a, z)
    with pytest.raises(relgeo.Error):
        relgeo.encode(b"\x00" * 100, a, z)
    with pytest.raises(ValueError, match="map must be"):
        relgeo.encode(42, a, z)
    if not relgeo.version()["cuda_devices"]:
        with pytest.raises(relgeo.Error, match="(?i)cuda"):
            relgeo.encode(path, a, z, device="cuda")
