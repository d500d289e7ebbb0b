"""The student: SqueezeNet v1.1 in plain torch, torchvision's parameter names, 128-d head.

torchvision itself does not import beside this torch, so the network is written out here. The
head is torchvision's `classifier.1` 1x1 conv WITHOUT the ReLU that torchvision puts after it (an
embedding must be able to go negative); `facert convert --head-activation none` says so.
With batchnorm=True every conv but the head is followed by a BatchNorm (registered right after
its conv, which is how `facert convert` pairs them before folding): training from scratch on a
small transfer set converges much faster with it, and inference costs nothing once folded.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


class Fire(nn.Module):
    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int, batchnorm: bool = False):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_bn = _norm(squeeze, batchnorm)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_bn = _norm(expand1x1, batchnorm)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_bn = _norm(expand3x3, batchnorm)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze_bn(self.squeeze(x)))
        return torch.cat([self.expand1x1_activation(self.expand1x1_bn(self.expand1x1(x))),
                          self.expand3x3_activation(self.expand3x3_bn(self.expand3x3(x)))], 1)


HEADS = ("avg", "gdconv")


def feature_size(size: int) -> int:
    """Side of SqueezeNet v1.1's last feature map for a size x size input (112 -> 6): the 3x3/2 stem
    without padding, then three 3x3/2 max pools with ceil_mode."""
    side = (size - 3) // 2 + 1
    for _ in range(3):
        side = -(-(side - 3) // 2) + 1
    return side


class SqueezeNetEmbedder(nn.Module):
    """SqueezeNet v1.1 features (torchvision layout) -> 1x1 conv to dim -> a global pool: average pooling
    (head="avg", torchvision's), or (head="gdconv") a global depthwise conv, MobileFaceNet's GDConv: one
    learned weight per channel and position of the last feature map, since where on an aligned face a
    feature fires matters and averaging forgets it. The GDConv starts as the average (weights 1/side^2),
    so a model of the "avg" head loads into it unchanged (load_model_file). size: the input side the
    GDConv's kernel is sized for."""

    def __init__(self, dim: int = 128, dropout: float = 0.0, batchnorm: bool = True, head: str = "avg",
                 size: int = 112):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        self.head = head
        bn = batchnorm
        # Indices 0..12 of `features` are torchvision's; the stem's BatchNorm is nested with its
        # conv (features.0.0 / features.0.1) only when batchnorm is on.
        stem = nn.Sequential(nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.BatchNorm2d(64)) if bn \
            else nn.Conv2d(3, 64, kernel_size=3, stride=2)
        self.features = nn.Sequential(
            stem,
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(64, 16, 64, 64, bn),
            Fire(128, 16, 64, 64, bn),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(128, 32, 128, 128, bn),
            Fire(256, 32, 128, 128, bn),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(256, 48, 192, 192, bn),
            Fire(384, 48, 192, 192, bn),
            Fire(384, 64, 256, 256, bn),
            Fire(512, 64, 256, 256, bn),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Conv2d(512, dim, kernel_size=1),  # no ReLU after it: see the module docstring
            nn.AdaptiveAvgPool2d((1, 1)) if head == "avg"
            else nn.Conv2d(dim, dim, kernel_size=feature_size(size), groups=dim),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        if head == "gdconv":
            with torch.no_grad():
                self.classifier[2].weight.fill_(1.0 / feature_size(size) ** 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


# The model file's op names (facert/convert/squeezenet.py writes them) -> this module's fire indices.
_FIRES = {"fire2": 3, "fire3": 4, "fire4": 6, "fire5": 7, "fire6": 9, "fire7": 10, "fire8": 11, "fire9": 12}


def _convs(model: SqueezeNetEmbedder) -> dict:
    """{model-file op name: (conv, its BatchNorm or None)}."""
    stem = model.features[0]
    pairs = {"stem": (stem[0], stem[1]) if isinstance(stem, nn.Sequential) else (stem, None),
             "head": (model.classifier[1], None)}
    if model.head == "gdconv":
        pairs["gdconv"] = (model.classifier[2], None)
    for name, i in _FIRES.items():
        fire = model.features[i]
        for part in ("squeeze", "expand1x1", "expand3x3"):
            bn = getattr(fire, f"{part}_bn")
            pairs[f"{name}.{part}"] = (getattr(fire, part), bn if isinstance(bn, nn.BatchNorm2d) else None)
    return pairs


@torch.no_grad()
def load_model_file(model: SqueezeNetEmbedder, tensors: dict, x: torch.Tensor) -> None:
    """Start model from a facert model file of this student (e.g. the bundled default model): its folded
    weights go into the convs, and every BatchNorm is set to pass its input through unchanged, so the
    network computes what the file does. tensors: read_sq_bin's; x: a batch of normalised training crops.

    The file has no BatchNorm left, but training needs one where the student has it: each is given the
    mean and variance its input has on x (running statistics) and the affine that undoes them, so that
    in eval mode it is exactly the identity and in train mode, on batches like x, nearly so.
    """
    pairs = _convs(model)
    if "gdconv" in pairs and "gdconv.weight" not in tensors:
        del pairs["gdconv"]   # a file of the "avg" head: the GDConv keeps its start, the average
    elif "gdconv" not in pairs and "gdconv.weight" in tensors:
        raise ValueError("the model file ends in a GDConv head: give --head gdconv")
    missing = sorted({f"{n}.{p}" for n in pairs for p in ("weight", "bias")} - set(tensors))
    if missing:
        raise ValueError(f"the model file is not this student: it lacks {', '.join(missing[:4])}")
    stats, hooks = {}, []
    for name, (conv, bn) in pairs.items():
        w, b = torch.from_numpy(tensors[f"{name}.weight"]), torch.from_numpy(tensors[f"{name}.bias"])
        if w.shape != conv.weight.shape:
            raise ValueError(f"{name}.weight is {tuple(w.shape)} in the model file, the student's "
                             f"{tuple(conv.weight.shape)} (--dim or the architecture differ)")
        conv.weight.copy_(w)
        conv.bias.copy_(b)
        if bn is not None:
            bn.reset_running_stats()                      # mean 0, var 1: with this affine, the identity
            bn.weight.fill_(math.sqrt(1.0 + bn.eps))
            bn.bias.zero_()
            hooks.append(bn.register_forward_hook(
                lambda m, inp, out, name=name: stats.__setitem__(name, (inp[0].mean((0, 2, 3)),
                                                                        inp[0].var((0, 2, 3), unbiased=False)))))
    was_training = model.training
    model.eval()
    model(x)
    model.train(was_training)
    for h in hooks:
        h.remove()
    for name, (mean, var) in stats.items():
        bn = pairs[name][1]
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean)
