"""Save a student the ways training and distillation code do (see /work/shared/DESIGN.md's list).

Each writer takes (model, path) and returns whether loading needs --trust-pickle.
"""
from __future__ import annotations

import argparse
import warnings
from collections import OrderedDict

import torch


def _prefixed(state_dict, prefix):
    return OrderedDict((prefix + k, v) for k, v in state_dict.items())


def _optimizer_state(model):
    # a real optimizer state (momentum buffers after one step), as training scripts save it
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for p in model.parameters():
        p.grad = None
    return opt.state_dict()


def _margin_head(dim, classes=37):
    # FaceX-Zoo / insightface margin classifier: a (dim, classes) or (classes, dim) matrix
    return torch.randn(dim, classes)


def _embedding_dim(model):
    with torch.no_grad():
        return model(torch.zeros(1, 3, 64, 64)).shape[1]


def bare(model, path):
    torch.save(model.state_dict(), path)
    return False


def entry(name):
    def save(model, path):
        torch.save({name: model.state_dict(), "epoch": 7, "best_acc": 0.93}, path)
        return False
    save.__name__ = f"under_{name}"
    return save


def training_checkpoint(model, path):
    torch.save({"epoch": 12, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": _optimizer_state(model), "loss": 0.25}, path)
    return False


def facex_zoo(model, path):
    # FaceX-Zoo KD: {'state_dict': {backbone.* , head.*}, 'epoch', 'batch_id'}
    sd = _prefixed(model.state_dict(), "backbone.")
    sd["head.weight"] = _margin_head(_embedding_dim(model))
    torch.save({"state_dict": sd, "epoch": 3, "batch_id": 999}, path)
    return False


def insightface(model, path):
    torch.save({"epoch": 20, "global_step": 12345, "state_dict_backbone": model.state_dict(),
                "state_dict_softmax_fc": {"weight": _margin_head(_embedding_dim(model)).T.contiguous()},
                "state_optimizer": _optimizer_state(model), "state_lr_scheduler": {"last_epoch": 20}}, path)
    return False


def dino(model, path):
    # DINO: {'student','teacher','optimizer','epoch','args'}; DDP student with module.backbone. and a
    # projection head; the argparse Namespace makes weights-only loading refuse the file.
    student = _prefixed(model.state_dict(), "module.backbone.")
    dim = _embedding_dim(model)
    student["module.head.mlp.0.weight"] = torch.randn(256, dim)
    student["module.head.mlp.0.bias"] = torch.randn(256)
    student["module.head.last_layer.weight_g"] = torch.ones(1024, 1)
    student["module.head.last_layer.weight_v"] = torch.randn(1024, 256)
    teacher = OrderedDict((k[len("module."):], v.clone() + 1) for k, v in student.items())
    torch.save({"student": student, "teacher": teacher, "optimizer": _optimizer_state(model), "epoch": 100,
                "args": argparse.Namespace(arch="squeezenet1_1", out_dim=1024, lr=5e-4)}, path)
    return True


def prefix(pfx):
    def save(model, path):
        torch.save(_prefixed(model.state_dict(), pfx), path)
        return False
    save.__name__ = "prefix_" + pfx.replace(".", "_")
    return save


def student_and_teacher_flat(model, path):
    # one flat dict of a distillation wrapper: student.* and teacher.* (a different, larger net)
    sd = _prefixed(model.state_dict(), "student.")
    sd["teacher.conv.weight"] = torch.randn(8, 3, 7, 7)
    sd["teacher.fc.weight"] = torch.randn(4, 8)
    torch.save(sd, path)
    return False


def torchscript(model, path):
    # trace, not script: tracing works for any forward (training repos export this way too)
    with warnings.catch_warnings():   # torch 2.x deprecates TorchScript; archives still exist
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(model, torch.zeros(1, 3, 112, 112), check_trace=False)
        torch.jit.save(traced, str(path))
    return True   # a TorchScript archive is code: loading runs its scripted __setstate__


def whole_module(model, path):
    torch.save(model, path)   # pickles the class: only loadable with --trust-pickle
    return True


LAYOUTS = [
    bare, entry("state_dict"), entry("model"), entry("model_state_dict"), entry("net"), entry("net_state_dict"),
    entry("student"), entry("student_state_dict"), training_checkpoint, facex_zoo, insightface, dino,
    prefix("module."), prefix("student."), prefix("model."), prefix("backbone."), prefix("module.student.model."),
    student_and_teacher_flat, torchscript, whole_module,
]
