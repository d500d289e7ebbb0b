"""The same torch network in the peer runtimes facert is measured against: ONNX Runtime and ncnn.

Each runner takes a float32 (1,3,H,W) NCHW array and returns the (1, D) head output, so every
benchmark can check its answer against PyTorch before it is timed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def onnxruntime_runner(model, example, folder: Path, threads: int):
    import onnxruntime as ort
    import torch

    path = folder / "student.onnx"
    if not path.exists():
        # dynamo=False: the TorchScript exporter gives the plain Conv/Relu/Concat graph ORT fuses best.
        torch.onnx.export(model, (example,), str(path), dynamo=False,
                          input_names=["input"], output_names=["embedding"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x})[0]


def ncnn_runner(model, example, folder: Path, threads: int):
    import ncnn
    import pnnx

    stem = folder / "student_pnnx"
    param, weights = Path(f"{stem}.ncnn.param"), Path(f"{stem}.ncnn.bin")
    if not param.exists():
        pnnx.export(model, f"{stem}.pt", (example,))  # TorchScript trace -> ncnn param/bin
    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_fp16_packed = False   # fp32 throughout, like the other runtimes here
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.load_param(str(param))
    net.load_model(str(weights))

    def run(x: np.ndarray) -> np.ndarray:
        extractor = net.create_extractor()
        extractor.input("in0", ncnn.Mat(np.ascontiguousarray(x[0])))
        _, out = extractor.extract("out0")
        return np.array(out).reshape(1, -1)

    return run
