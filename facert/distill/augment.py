"""Batch augmentation on the cached run-time crops (torch, in-graph, cheap next to the network).

Flip, small shift/scale/rotation (landmark-aligned crops still jitter that much between photos),
colour jitter (brightness, contrast, saturation) and, on a share of the batch, a downscale-upscale
(a face photographed small: blur without a kernel to tune). Borders replicate, like facert.align does.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, gen: torch.Generator, shift: float = 0.03, scale: float = 0.05,
            rotate_deg: float = 5.0, colour: float = 0.25, lowres: float = 0.2,
            lowres_range: tuple = (0.3, 0.7)) -> torch.Tensor:
    """x: (N,3,H,W) float in [0,1], RGB. Returns an augmented copy, same shape and range."""
    n = x.shape[0]

    def uniform(lo, hi):
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    # Geometry: one affine per sample, applied by grid_sample with border replication.
    angle = uniform(-rotate_deg, rotate_deg) * math.pi / 180.0
    s = torch.exp(uniform(-scale, scale))
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * flip
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * flip
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = uniform(-shift, shift) * 2.0
    theta[:, 1, 2] = uniform(-shift, shift) * 2.0
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    # Low resolution: one shared factor for the chosen images (one interpolate pair per batch).
    pick = torch.rand(n, generator=gen) < lowres
    if bool(pick.any()):
        f = float(uniform(*lowres_range)[0])
        h, w = x.shape[2:]
        small = F.interpolate(x[pick], size=(max(8, round(h * f)), max(8, round(w * f))), mode="area")
        x = x.clone()
        x[pick] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)

    # Colour: brightness, contrast around the per-image mean, saturation around the grey image.
    b = uniform(1 - colour, 1 + colour).view(n, 1, 1, 1)
    c = uniform(1 - colour, 1 + colour).view(n, 1, 1, 1)
    sat = uniform(1 - colour, 1 + colour).view(n, 1, 1, 1)
    x = x * b
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c + mean
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = (x - grey) * sat + grey
    return x.clamp_(0.0, 1.0)
