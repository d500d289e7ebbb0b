#!/usr/bin/env python3
"""Distil dlib's face descriptor into facert's SqueezeNet v1.1 student (same as `facert distill`).

    python tools/distill.py --minutes 55            # full run: caches, curve and checkpoint in /tmp/distill
    facert convert /tmp/distill/student.pth -o facert/models/default.sq.bin --fp16 ...   (see docs/model_card.md)
"""
import sys
from pathlib import Path

if __name__ == "__main__":
    try:
        from facert.distill.train import main
    except ImportError:  # run from a checkout without an installed facert
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from facert.distill.train import main
    sys.exit(main())
