#!/usr/bin/env python3
"""LFW View 1 + people/ verification accuracy for facert's model and dlib's teacher.

    python tools/eval_pairs.py --teacher --json /tmp/distill/eval.json     (same as `facert eval-pairs ...`)
"""
import sys

if __name__ == "__main__":
    from facert.cli import main
    sys.exit(main(["eval-pairs"] + sys.argv[1:]))
