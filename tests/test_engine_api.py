"""facert.Engine on the CPU: results against the NumPy whole-graph reference (tests/graph_reference.py),
embeddings, batches, threads, concurrency, the plan, and the errors bad arguments and images raise."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import facert
import graph_reference as gr
import model_factory as mf
from facert import _core
from reference import FP32_REL_TOL, rel_err

cv2 = pytest.importorskip("cv2")


def images(seed, sizes):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


@pytest.fixture(scope="module")
def tiny(tiny_model):
    return facert.Engine(tiny_model.path, device="cpu", threads=2)


@pytest.fixture(scope="module")
def squeeze(squeezenet_model):
    return facert.Engine(squeezenet_model.path, device="cpu", threads=2)


@pytest.fixture(scope="module")
def photos(data_dir):
    paths = sorted((data_dir / "people").glob("*/*.jpg"))[:6] + sorted((data_dir / "utkface_part1").glob("*.jpg"))[:4]
    imgs = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]
    assert len(imgs) == 10 and all(i is not None for i in imgs)
    return imgs


# ---------------------------------------------------------------------------------- numbers vs reference

@pytest.mark.parametrize("isa", ["auto", "ref"])
@pytest.mark.parametrize("n", [1, 3])
def test_tiny_forward_matches_reference(tiny_model, isa, n):
    e = facert.Engine(tiny_model.path, device="cpu", isa=isa, threads=2)
    x = np.random.default_rng(n).normal(size=(n, 3, 13, 11)).astype(np.float32)
    got = e.forward(x)
    assert got.shape == (n, 6) and got.dtype == np.float32
    assert rel_err(got, gr.forward(tiny_model.graph, tiny_model.tensors, x)) <= FP32_REL_TOL


def test_squeezenet_forward_matches_reference(squeeze, squeezenet_model, photos):
    x = np.stack([squeeze.preprocess(p) for p in photos[:2]])
    got = squeeze.forward(x)
    want = gr.forward(squeezenet_model.graph, squeezenet_model.tensors, x)
    assert rel_err(got, want) <= FP32_REL_TOL
    assert np.abs(want).max() > 1e-3  # a real signal reached the head


def test_embed_is_unit_norm_and_matches_reference(tiny, tiny_model, photos):
    for img in photos[:4] + images(1, [(5, 9), (1, 1), (300, 17)]):
        v = tiny.embed(img)
        assert v.shape == (6,) and v.dtype == np.float32
        assert abs(np.linalg.norm(v) - 1) <= 1e-6
        x = gr.preprocess(img, tiny_model.graph["input"])[None]  # NumPy all the way: resize, normalise, net
        want = gr.embed(tiny_model.graph, tiny_model.tensors, x)[0]
        assert np.abs(v - want).max() <= 1e-5


def test_embed_without_l2_normalize_returns_the_raw_head(tmp_path):
    graph, tensors = mf.tiny(seed=3, l2_normalize=False)
    mf.write(tmp_path / "raw.sq.bin", graph, tensors)
    e = facert.Engine(tmp_path / "raw.sq.bin", device="cpu")
    img = images(2, [(20, 20)])[0]
    v = e.embed(img)
    assert np.allclose(v, e.forward(e.preprocess(img)[None])[0], rtol=0, atol=1e-6)
    assert abs(np.linalg.norm(v) - 1) > 1e-3


def test_squeezenet_embeddings_tell_photos_apart(squeeze, photos):
    emb = squeeze.embed_batch(photos)
    assert emb.shape == (10, 128)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-6)
    cos = emb @ emb.T
    assert cos[~np.eye(10, dtype=bool)].max() < 0.99999


# ---------------------------------------------------------------------------------------------- batches

def test_embed_batch_list_of_sizes_equals_single_embeds(tiny):
    imgs = images(4, [(13, 11), (40, 7), (2, 90), (200, 150)])
    batch = tiny.embed_batch(imgs)
    assert batch.shape == (4, 6)
    for i, img in enumerate(imgs):
        assert np.array_equal(batch[i], tiny.embed(img))


def test_embed_batch_4d_array(tiny):
    arr = np.stack(images(5, [(30, 20)] * 3))
    assert np.array_equal(tiny.embed_batch(arr), tiny.embed_batch(list(arr)))


def test_forward_batch_equals_single_images(squeeze):
    x = np.random.default_rng(6).normal(size=(3, 3, 112, 112)).astype(np.float32)
    batch = squeeze.forward(x)
    for i in range(3):
        assert np.array_equal(batch[i], squeeze.forward(x[i:i + 1])[0])


# ---------------------------------------------------------------------------------- threads, concurrency

def test_one_thread_and_two_threads_agree(squeezenet_model, photos):
    one = facert.Engine(squeezenet_model.path, device="cpu", threads=1)
    two = facert.Engine(squeezenet_model.path, device="cpu", threads=2)
    assert one.info["threads"] == 1 and two.info["threads"] == 2
    assert np.abs(one.embed_batch(photos) - two.embed_batch(photos)).max() <= 1e-6


def test_batch_split_over_threads_gives_the_single_image_answers(squeezenet_model):
    """With 2 threads a batch of 5 runs images 0-3 whole-image-per-thread (own arenas, one parallel region)
    and image 4 split per layer: every row must equal the 1-thread, one-image-at-a-time answer."""
    one = facert.Engine(squeezenet_model.path, device="cpu", threads=1)
    two = facert.Engine(squeezenet_model.path, device="cpu", threads=2)
    x = np.random.default_rng(9).normal(size=(5, 3, 112, 112)).astype(np.float32)
    singles = np.concatenate([one.forward(x[i:i + 1]) for i in range(5)])
    assert np.abs(two.forward(x) - singles).max() <= 1e-6 * np.abs(singles).max()
    assert np.abs(one.forward(x) - singles).max() <= 1e-6 * np.abs(singles).max()


def test_threads_above_the_cpus_are_capped(tiny_model):
    """Oversubscribed spinning workers only wait for a core: the pool is capped at the CPUs this process may
    use (its affinity mask), and still answers correctly."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    capped = _core.Engine(str(tiny_model.path), threads=cpus + 61)
    assert capped.info["threads"] == cpus
    x = np.random.default_rng(10).normal(size=(3, *capped.input_shape)).astype(np.float32)
    assert np.abs(capped.forward(x) - _core.Engine(str(tiny_model.path), threads=1).forward(x)).max() <= 1e-6


def test_workers_park_when_the_engine_is_idle(squeezenet_model):
    """Workers spin through an inference (ThreadPool::Hold) but park once it ends: an idle engine's process uses
    no CPU. A leaked hold would keep a worker spinning, ~0.3 s of CPU in the 0.3 s slept here."""
    two = facert.Engine(squeezenet_model.path, device="cpu", threads=2)
    x = np.random.default_rng(11).normal(size=(1, 3, 112, 112)).astype(np.float32)
    for batch in (x, np.concatenate([x] * 3)):
        for _ in range(20):
            two.forward(batch)
        time.sleep(0.05)   # the spin before parking (50 us), with room
        cpu = time.process_time()
        time.sleep(0.3)
        assert time.process_time() - cpu < 0.1, f"batch {len(batch)}: workers still spinning"


PIN_CHECK = """
import os, sys
from facert import _core
engine = _core.Engine(sys.argv[1], threads=2)
tasks = os.listdir("/proc/self/task")
allowed = [open(f"/proc/self/task/{t}/status").read().split("Cpus_allowed_list:")[1].split()[0] for t in tasks]
print(" ".join(allowed))
"""


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and 2 CPUs")
@pytest.mark.parametrize("pin", ["1", "0"])
def test_workers_are_pinned_only_on_request(tiny_model, pin, tmp_path):
    env = dict(os.environ, FACERT_PIN_THREADS=pin)
    # cwd away from the checkout: the installed facert (with _core) must be imported, not the source folder
    run = subprocess.run([sys.executable, "-c", PIN_CHECK, str(tiny_model.path)], env=env, capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    single = [a for a in run.stdout.split() if a.isdigit()]  # "3" is one CPU; "0-1" or "0,2" are several
    second_cpu = str(sorted(os.sched_getaffinity(0))[1])
    assert single == ([second_cpu] if pin == "1" else []), run.stdout


def test_eight_python_threads_get_the_single_thread_answers(squeeze, photos):
    imgs = photos + images(7, [(64, 64), (90, 120)])
    expected = [squeeze.embed(img) for img in imgs]
    start = threading.Barrier(8)

    def worker(k):
        start.wait()  # all eight threads call embed at the same moment, each in its own order
        order = [(i + k) % len(imgs) for i in range(len(imgs))] * 2
        return [(i, squeeze.embed(imgs[i])) for i in order]

    with ThreadPoolExecutor(8) as pool:
        results = [r for res in pool.map(worker, range(8)) for r in res]
    assert len(results) == 8 * 2 * len(imgs)
    for i, v in results:
        assert np.abs(v - expected[i]).max() <= 1e-6


def test_gil_is_released_during_inference(squeeze):
    # While one thread runs a long batch (~30 ms on two AVX-512 cores), the main thread keeps running Python code.
    x = np.random.default_rng(8).normal(size=(128, 3, 112, 112)).astype(np.float32)
    done = threading.Event()
    t = threading.Thread(target=lambda: (squeeze.forward(x), done.set()))
    ticks = 0
    t.start()
    while not done.is_set():
        ticks += 1
        done.wait(0.001)
    t.join()
    assert ticks > 5


# ----------------------------------------------------------------------------------------- info and plan

def test_info_contract(tiny, tiny_model):
    info = tiny.info
    for key in ("arch", "format_version", "checksum", "metadata", "input", "output", "params", "macs", "ops",
                "threads", "isa", "device"):
        assert key in info, key
    assert info["device"] == "cpu" and info["isa"] in ("ref", "avx2", "avx512", "neon") and info["threads"] == 2
    assert tiny.dim == 6 and tiny.input_shape == (3, 13, 11)
    assert _core.version == facert.__version__
    file_info = _core.load_model_info(str(tiny_model.path))
    assert {k: info[k] for k in file_info} == file_info


def test_plan_makes_concat_free_and_shares_the_arena(squeeze):
    text = squeeze.plan()
    assert text.count("(free: inputs aliased)") == 8  # fire2..fire9
    assert "writes into fire2" in text
    info = squeeze.info
    activations = sum(int(np.prod(op["shape"])) for op in info["ops"]) + 3 * 112 * 112
    assert info["arena_bytes"] < 0.4 * activations * 4  # lifetimes let buffers share memory


def test_plan_copies_a_tensor_used_by_two_concats(tmp_path):
    b = mf.GraphBuilder(np.random.default_rng(0), 9, 9)
    s = b.conv("s", "input", 4, k=1)
    a = b.conv("a", s, 3, k=3, pad=1)
    c1 = b.concat("c1", [a, s])        # s is read by two concats and by "a": copied, not aliased
    c2 = b.concat("c2", [s, c1])       # nested: c1 lives inside c2
    x = b.gap("g", c2)
    x = b.linear("head", x, 5)
    graph = b.graph(x)
    mf.write(tmp_path / "m.sq.bin", graph, b.tensors)
    e = facert.Engine(tmp_path / "m.sq.bin", device="cpu")
    assert "copies 1 input(s)" in e.plan()
    x_in = np.random.default_rng(1).normal(size=(2, 3, 9, 9)).astype(np.float32)
    assert rel_err(e.forward(x_in), gr.forward(graph, b.tensors, x_in)) <= FP32_REL_TOL


def test_concat_fed_by_the_graph_input(tmp_path):
    b = mf.GraphBuilder(np.random.default_rng(2), 6, 5)
    a = b.conv("a", "input", 2, k=1)
    c = b.concat("c", ["input", a, "input"])
    x = b.linear("head", b.gap("g", c), 3)
    mf.write(tmp_path / "m.sq.bin", b.graph(x), b.tensors)
    e = facert.Engine(tmp_path / "m.sq.bin", device="cpu")
    x_in = np.random.default_rng(3).normal(size=(1, 3, 6, 5)).astype(np.float32)
    assert rel_err(e.forward(x_in), gr.forward(b.graph(x), b.tensors, x_in)) <= FP32_REL_TOL


# ---------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("bad, match", [
    (np.zeros((100, 100), np.uint8), r"expected an HxWx3 uint8 BGR image, got shape \(100, 100\) dtype uint8"),
    (np.zeros((10, 10, 4), np.uint8), r"got shape \(10, 10, 4\) dtype uint8"),
    (np.zeros((10, 10, 3), np.float64), r"got shape \(10, 10, 3\) dtype float64"),
    (np.zeros((0, 10, 3), np.uint8), r"got shape \(0, 10, 3\)"),
    (np.zeros((10, 0, 3), np.uint8), r"got shape \(10, 0, 3\)"),
    ([[[0, 0, 0]]], "got a list"),
])
def test_bad_images_are_input_errors(tiny, bad, match):
    with pytest.raises(facert.InputError, match=match):
        tiny.embed(bad)
    with pytest.raises(facert.InputError):
        tiny.preprocess(bad)
    with pytest.raises(facert.InputError):
        tiny.embed_batch([np.zeros((5, 5, 3), np.uint8), bad])


def test_core_checks_images_too(tiny_model):
    core = _core.Engine(str(tiny_model.path))
    with pytest.raises(_core.InputError, match=r"got shape \(4, 4\) dtype uint8"):
        core.embed(np.zeros((4, 4), np.uint8))
    with pytest.raises(_core.InputError, match="dtype float32"):
        core.embed_batch(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(_core.InputError, match="at least one image"):
        core.embed_batch([])
    assert issubclass(_core.InputError, ValueError) and facert.InputError is _core.InputError


@pytest.mark.parametrize("bad", [[], np.zeros((0, 5, 5, 3), np.uint8), np.zeros((2, 5, 5, 4), np.uint8), "img"])
def test_bad_batches_are_input_errors(tiny, bad):
    with pytest.raises(facert.InputError):
        tiny.embed_batch(bad)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((1, 3, 13, 11), np.float64), r"expected a float32 \(N, 3, 13, 11\) tensor, got shape \(1, 3, 13, 11\) dtype float64"),
    (np.zeros((3, 13, 11), np.float32), r"got shape \(3, 13, 11\)"),
    (np.zeros((1, 3, 11, 13), np.float32), r"got shape \(1, 3, 11, 13\)"),
    (np.zeros((0, 3, 13, 11), np.float32), r"got shape \(0, 3, 13, 11\)"),
])
def test_bad_forward_inputs(tiny, bad, match):
    with pytest.raises(facert.InputError, match=match):
        tiny.forward(bad)
    with pytest.raises(facert.InputError, match=match.split(" got")[0]):
        tiny._core.forward(bad)


def test_non_contiguous_inputs_are_copied(tiny):
    img = images(9, [(40, 30)])[0]
    assert np.array_equal(tiny.embed(img[::-1, ::2]), tiny.embed(np.ascontiguousarray(img[::-1, ::2])))
    x = np.random.default_rng(9).normal(size=(2, 3, 13, 11)).astype(np.float32)
    xt = np.asfortranarray(x)
    assert np.array_equal(tiny.forward(xt), tiny.forward(x))


def test_missing_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.sq.bin"):
        facert.Engine(tmp_path / "missing.sq.bin")
    with pytest.raises(FileNotFoundError):
        _core.Engine(str(tmp_path / "missing.sq.bin"))


def test_default_model(tmp_path):
    from facert.engine import DEFAULT_MODEL
    if DEFAULT_MODEL.is_file():
        e = facert.Engine(device="cpu")
        assert e.dim >= 1 and e.info["checksum"] == "ok"
    else:
        with pytest.raises(FileNotFoundError, match="no default model is bundled"):
            facert.Engine()


@pytest.mark.parametrize("kw, exc, match", [
    ({"device": "tpu"}, ValueError, "device must be one of"),
    ({"precision": "int8"}, ValueError, "precision must be one of"),
    ({"isa": "sse2"}, ValueError, "isa must be one of"),
    ({"threads": 0}, ValueError, "threads must be a positive int"),
    ({"threads": 1.5}, ValueError, "threads must be a positive int"),
])
def test_bad_engine_arguments(tiny_model, kw, exc, match):
    with pytest.raises(exc, match=match):
        facert.Engine(tiny_model.path, **kw)


def test_unknown_or_unavailable_isa_in_core(tiny_model):
    with pytest.raises(ValueError, match="unknown isa 'sse9'"):
        _core.Engine(str(tiny_model.path), isa="sse9")
    unavailable = [isa for isa in ("avx2", "avx512", "neon") if isa != _core.Engine(str(tiny_model.path)).info["isa"]]
    for isa in unavailable:
        try:
            e = _core.Engine(str(tiny_model.path), isa=isa)
        except _core.DeviceError as err:
            assert f"isa '{isa}' is not available" in str(err)
        else:
            assert e.info["isa"] == isa  # available after all (e.g. auto chose ref)


# ------------------------------------------------------------------------------------ PyTorch, whole net

def torch_forward(torch, graph, tensors, x):
    """The graph run op by op with torch.nn.functional: a second, independent whole-network reference."""
    F = torch.nn.functional
    acts = {graph["input"]["name"]: torch.from_numpy(x).double()}
    w = lambda k: None if k is None else torch.from_numpy(tensors[k]).double()  # noqa: E731
    act = {"none": lambda v: v, "relu": F.relu, "relu6": F.relu6}
    for op in graph["ops"]:
        ins = [acts[n] for n in op["inputs"]]
        if op["type"] == "conv2d":
            out = act[op["activation"]](F.conv2d(ins[0], w(op["weight"]), w(op["bias"]), op["stride"], op["pad"],
                                                 op["dilation"], op["groups"]))
        elif op["type"] == "maxpool2d":
            out = F.max_pool2d(ins[0], op["kernel"], op["stride"], op["pad"], ceil_mode=op["ceil_mode"])
        elif op["type"] == "concat":
            out = torch.cat(ins, 1)
        elif op["type"] == "global_avgpool":
            out = ins[0].mean((2, 3))
        else:
            out = act[op["activation"]](F.linear(ins[0], w(op["weight"]), w(op["bias"])))
        acts[op["outputs"][0]] = out
    return acts[graph["output"]["name"]].numpy()


@pytest.mark.parametrize("size", [112, 67])
def test_squeezenet_matches_pytorch(tmp_path, size):
    torch = pytest.importorskip("torch")
    graph, tensors = mf.squeezenet(seed=size, height=size, width=size, dim=96)
    mf.write(tmp_path / "sq.sq.bin", graph, tensors)
    e = facert.Engine(tmp_path / "sq.sq.bin", device="cpu", threads=2)
    x = np.random.default_rng(size).normal(size=(2, 3, size, size)).astype(np.float32)
    assert rel_err(e.forward(x), torch_forward(torch, graph, tensors, x)) <= FP32_REL_TOL


def test_a_single_image_runs_at_a_measured_width_with_the_same_result(squeeze):
    """threads is the most an engine uses: one image may run on one thread where that measured faster
    (engine/thread_width.hpp). Whichever width ran, the output is bitwise the one-thread engine's."""
    two = facert.Engine(squeeze.path, device="cpu", threads=2)
    one = facert.Engine(squeeze.path, device="cpu", threads=1)
    assert one.info["threads_in_use"] == 1 and two.info["threads_in_use"] in (1, 2)
    x = np.random.default_rng(5).normal(size=(1, 3, 112, 112)).astype(np.float32)
    expected = one.forward(x)
    for i in range(300):   # past the first probe of one thread (the 5th run) and two periodic ones
        if i % 50 == 0:
            time.sleep(0.02)   # idle gaps: the case where one thread can win
        np.testing.assert_array_equal(two.forward(x), expected)
    assert two.info["threads_in_use"] in (1, 2) and two.info["threads"] == 2
