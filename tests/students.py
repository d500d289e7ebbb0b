"""Independent SqueezeNet v1.1 student definitions in plain torch, in the namings training code uses.

These do not share code with facert.convert: they are the reference the converter is checked against.
"""
from __future__ import annotations

import torch
from torch import nn

# torchvision squeezenet1_1 fire configuration: (squeeze, expand1x1, expand3x3)
FIRES_V11 = [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
             (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]
# a narrow, uneven variant: the converter must not assume torchvision's channel counts
FIRES_ODD = [(8, 24, 40), (12, 20, 36), (16, 48, 32), (20, 40, 56),
             (24, 64, 72), (28, 60, 76), (32, 96, 88), (36, 100, 92)]


def _pool():
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


class TorchvisionFire(nn.Module):
    """torchvision's Fire, optionally with a BatchNorm after each conv."""

    def __init__(self, inplanes, squeeze, e1, e3, bn=False):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
        self.squeeze_bn = nn.BatchNorm2d(squeeze) if bn else nn.Identity()
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand1x1_bn = nn.BatchNorm2d(e1) if bn else nn.Identity()
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.expand3x3_bn = nn.BatchNorm2d(e3) if bn else nn.Identity()
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze_bn(self.squeeze(x)))
        return torch.cat([self.expand1x1_activation(self.expand1x1_bn(self.expand1x1(x))),
                          self.expand3x3_activation(self.expand3x3_bn(self.expand3x3(x)))], 1)


class TorchvisionSqueezeNet(nn.Module):
    """torchvision.models.squeezenet1_1 with num_classes = embedding size: features.N, classifier.1 + ReLU."""

    head_relu = True

    def __init__(self, dim=128, fires=FIRES_V11, stem=64, bn=False):
        super().__init__()
        layers = [nn.Conv2d(3, stem, 3, stride=2)]
        layers += [nn.BatchNorm2d(stem)] if bn else []
        layers += [nn.ReLU(inplace=True), _pool()]
        channels = stem
        for i, (s, e1, e3) in enumerate(fires):
            layers.append(TorchvisionFire(channels, s, e1, e3, bn))
            channels = e1 + e3
            if i in (1, 3):
                layers.append(_pool())
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(channels, dim, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


class GDConvSqueezeNet(TorchvisionSqueezeNet):
    """torchvision's layout with a MobileFaceNet-style head: classifier.1 1x1 conv (no ReLU), then a global
    depthwise conv (GDConv) whose kernel is the whole last feature map at input size x size, and its BatchNorm."""

    head_relu = False

    def __init__(self, dim=128, fires=FIRES_V11, stem=64, size=112):
        super().__init__(dim, fires, stem)
        with torch.no_grad():
            side = self.features(torch.zeros(1, 3, size, size)).shape[-1]
        channels = self.classifier[1].in_channels
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(channels, dim, 1),
                                        nn.Conv2d(dim, dim, side, groups=dim), nn.BatchNorm2d(dim))


class ConvBNReLU(nn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0, bn=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=not bn)
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class PlainFire(nn.Module):
    def __init__(self, cin, s, e1, e3, bn):
        super().__init__()
        self.s = ConvBNReLU(cin, s, 1, bn=bn)
        self.e1 = ConvBNReLU(s, e1, 1, bn=bn)
        self.e3 = ConvBNReLU(s, e3, 3, padding=1, bn=bn)

    def forward(self, x):
        x = self.s(x)
        return torch.cat([self.e1(x), self.e3(x)], 1)


class PlainSqueezeNet(nn.Module):
    """A face-student naming: stem, fires.0..7, global pool, Linear `embedding` (+ BatchNorm1d)."""

    head_relu = False

    def __init__(self, dim=128, fires=FIRES_V11, stem=64, bn=False, bn_head=False, dropout=0.2):
        super().__init__()
        self.stem = ConvBNReLU(3, stem, 3, stride=2, bn=bn)
        blocks, channels = [], stem
        for s, e1, e3 in fires:
            blocks.append(PlainFire(channels, s, e1, e3, bn))
            channels = e1 + e3
        self.fires = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(dropout)
        self.embedding = nn.Linear(channels, dim, bias=not bn_head)
        self.embedding_bn = nn.BatchNorm1d(dim) if bn_head else nn.Identity()

    def forward(self, x):
        x = nn.functional.max_pool2d(self.stem(x), 3, 2, ceil_mode=True)
        for i, fire in enumerate(self.fires):
            x = fire(x)
            if i in (1, 3):
                x = nn.functional.max_pool2d(x, 3, 2, ceil_mode=True)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.embedding_bn(self.embedding(self.dropout(x)))


class NamedFire(nn.Module):
    def __init__(self, cin, s, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, s, 1)
        self.expand1x1 = nn.Conv2d(s, e1, 1)
        self.expand3x3 = nn.Conv2d(s, e3, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)


class NamedSqueezeNet(nn.Module):
    """The other common naming: conv1, fire2..fire9 as attributes, Linear head `fc`."""

    head_relu = False

    def __init__(self, dim=128, fires=FIRES_V11, stem=64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 3, stride=2)
        channels = stem
        for i, (s, e1, e3) in enumerate(fires):
            setattr(self, f"fire{i + 2}", NamedFire(channels, s, e1, e3))
            channels = e1 + e3
        self.fc = nn.Linear(channels, dim)

    def forward(self, x):
        pool = lambda t: nn.functional.max_pool2d(t, 3, 2, ceil_mode=True)  # noqa: E731
        x = pool(torch.relu(self.conv1(x)))
        for i in range(2, 10):
            x = getattr(self, f"fire{i}")(x)
            if i in (3, 5):
                x = pool(x)
        return self.fc(x.mean(dim=(2, 3)))


# name -> constructor(dim, fires, stem); every naming/head/BN combination the converter must handle
VARIANTS = {
    "torchvision": lambda dim, fires, stem: TorchvisionSqueezeNet(dim, fires, stem),
    "torchvision_bn": lambda dim, fires, stem: TorchvisionSqueezeNet(dim, fires, stem, bn=True),
    "plain_linear": lambda dim, fires, stem: NamedSqueezeNet(dim, fires, stem),
    "plain_bn_linear_bn1d": lambda dim, fires, stem: PlainSqueezeNet(dim, fires, stem, bn=True, bn_head=True),
    "plain_odd_channels": lambda dim, fires, stem: PlainSqueezeNet(dim, FIRES_ODD, 24),
}


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """He-normal weights (activations keep their scale through 26 layers), random biases and
    non-trivial BatchNorm statistics, so folding errors cannot hide behind identity BNs. Eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
                m.num_batches_tracked.fill_(1000)
    return model.eval()


def make_student(variant: str, dim: int = 128, seed: int = 0, narrow: bool = False) -> nn.Module:
    """narrow: FIRES_ODD channels (a fast model for tests about file layout, not about numerics)."""
    fires, stem = (FIRES_ODD, 24) if narrow else (FIRES_V11, 64)
    return randomize(VARIANTS[variant](dim, fires, stem), seed)


def told(model: nn.Module, mean=(0.5,), std=(0.5,)) -> dict:
    """The convert options a state_dict cannot tell, as the student's author knows them."""
    return {"mean": list(mean), "std": list(std), "head_activation": "relu" if model.head_relu else "none"}
