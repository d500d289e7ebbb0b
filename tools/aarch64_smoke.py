"""The emulated smoke suite's two halves (tools/test_aarch64.sh runs both):

    python tools/aarch64_smoke.py reference PEOPLE_DIR OUT.npz   host: decode the photos (OpenCV), embed them with
                                          the x86-64 facert on the path; the first photo also as OUT's face0.ppm
    python tools/aarch64_smoke.py check REF.npz C_OUTPUT         aarch64 Python under qemu, numpy only: the
                                          installed wheel against those embeddings; C_OUTPUT: what the README's
                                          C program printed for face0.ppm

The check imports facert without OpenCL, builds facert.Engine() on the bundled model (its ISA must be neon),
embeds every photo (cosine with x86-64 >= 0.99999; NEON against the portable reference kernels too) and sends
a corrupt and a truncated copy of the model through the loader (facert.ModelError naming the file).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

MIN_COSINE = 0.99999   # fp32 on both sides; only summation order (AVX2 vs NEON vs reference) differs
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def reference(people_dir: str, out: str) -> None:
    import cv2
    import facert

    # the named people's photos (one face each, assorted sizes); groups/, hard/, resolutions/ are not people
    paths = sorted(p for p in Path(people_dir).glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.parent.name not in ("groups", "hard", "resolutions"))
    assert paths, f"no photos under {people_dir}/<name>/"
    engine = facert.Engine(device="cpu")
    arrays = {}
    for i, p in enumerate(paths):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        assert img is not None, f"cannot decode {p}"
        arrays[f"img{i}"], arrays[f"emb{i}"] = img, engine.embed(img)
    assert cv2.imwrite(str(Path(out).with_name("face0.ppm")), arrays["img0"])
    arrays["names"] = np.array([f"{p.parent.name}/{p.name}" for p in paths])
    arrays["isa"] = np.array(engine.info["isa"])
    np.savez(out, **arrays)
    print(f"reference: {len(paths)} photos embedded by facert {facert.__version__} ({facert.__file__}), "
          f"isa {engine.info['isa']}")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def check(ref_path: str, c_output: str) -> None:
    import platform
    import warnings

    import facert
    import facert._core as core
    print(f"facert {facert.__version__} on {platform.machine()}: {core.__file__}")
    assert platform.machine() == "aarch64", platform.machine()
    assert core.__file__.endswith("-aarch64-linux-gnu.so"), core.__file__
    lib = Path(facert.__file__).parent
    assert (lib / "lib" / "libfacert.so").is_file() and (lib / "include" / "facert" / "facert.h").is_file()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine = facert.Engine(threads=2)     # device "auto": no OpenCL here, so the CPU with a warning
    info = engine.info
    print(f"Engine(): {engine!r}\n  fallback: {str(info.get('fallback_reason')).splitlines()[0]}")
    assert info["isa"] == "neon", f"expected isa neon under qemu-aarch64, engine reports {info['isa']}"
    assert engine.device == "cpu" and info.get("fallback_reason"), info
    assert any("OpenCL" in str(w.message) or "CPU" in str(w.message) for w in caught), [str(w) for w in caught]

    ref = np.load(ref_path)
    names = list(ref["names"])
    reference_engine = facert.Engine(device="cpu", threads=2, isa="ref")
    worst_x86, worst_ref, max_diff = 1.0, 1.0, 0.0
    for i, name in enumerate(names):
        img = ref[f"img{i}"]
        emb = engine.embed(img)
        c_x86 = cosine(emb, ref[f"emb{i}"])
        worst_x86 = min(worst_x86, c_x86)
        max_diff = max(max_diff, float(np.abs(emb - ref[f"emb{i}"]).max()))
        line = f"  {name:<32} {img.shape[1]:>4}x{img.shape[0]:<4} cos(aarch64 neon, x86-64 {ref['isa']}) = {c_x86:.8f}"
        if i % 4 == 0:   # the portable reference kernels are slow under emulation: every 4th photo
            c_ref = cosine(emb, reference_engine.embed(img))
            worst_ref = min(worst_ref, c_ref)
            line += f"  cos(neon, ref) = {c_ref:.8f}"
        print(line)
    print(f"embeddings: {len(names)} photos, min cosine vs x86-64 {worst_x86:.8f} (max |difference| {max_diff:.2e}), "
          f"neon vs ref {worst_ref:.8f} (need >= {MIN_COSINE})")
    assert worst_x86 >= MIN_COSINE and worst_ref >= MIN_COSINE
    from_c = np.array(Path(c_output).read_text().split(), dtype=np.float32)
    c_c = cosine(from_c, ref["emb0"]) if from_c.shape == ref["emb0"].shape else float("nan")
    print(f"C API (README program, aarch64): {names[0]} cos(C, x86-64) = {c_c:.8f}")
    assert c_c >= MIN_COSINE, f"C program output {from_c.shape} differs from x86-64"

    model = facert.engine.DEFAULT_MODEL.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        flipped = bytearray(model)
        flipped[len(model) * 2 // 3] ^= 0x40         # a weight byte, well past the header
        cases = {"corrupt.sq.bin": bytes(flipped), "truncated.sq.bin": model[: len(model) // 2]}
        for name, data in cases.items():
            path = Path(tmp) / name
            path.write_bytes(data)
            try:
                facert.Engine(path, device="cpu")
            except facert.ModelError as exc:
                print(f"  {name}: ModelError: {exc}")
                assert name in str(exc), f"message does not name the file: {exc}"
            else:
                raise AssertionError(f"{name} was accepted")
    print("smoke: ok")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "reference":
        reference(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
