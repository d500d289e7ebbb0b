"""Distil dlib's face descriptor into a SqueezeNet v1.1 student: `facert distill` / tools/distill.py.

Pipeline: transfer-set chips -> (teacher) dlib aligned-chip descriptors, cached .npz
                            -> (student) facert.detect -> face_crop -> SIZE x SIZE, cached .npz
then train the student on augmented crops to match the teacher's L2-normalised embedding
(loss = 1 - cosine), with a cosine learning-rate schedule over a wall-clock budget, logging the
curve to CSV and writing an ordinary distillation checkpoint every epoch.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np

# What the student's input tensor is: written into the checkpoint so `facert convert` gets
# --channel-order/--mean/--std right (see docs/model_card.md).
INPUT_CHANNEL_ORDER = "RGB"
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)


def default_data_dir() -> Path:
    """../shared/data/utkface_part1 relative to the repository (or the current directory)."""
    for base in (Path(__file__).resolve().parents[3], Path.cwd().parent, Path.cwd()):
        cand = base / "shared" / "data" / "utkface_part1"
        if cand.is_dir():
            return cand
    return Path("../shared/data/utkface_part1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None, help="transfer-set folder (default ../shared/data/utkface_part1)")
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/distill"), help="caches, log and checkpoints")
    p.add_argument("--out", type=Path, default=None, help="final checkpoint (default WORK_DIR/student.pth)")
    p.add_argument("--size", type=int, default=112, help="student input size (square)")
    p.add_argument("--margin", type=float, default=None, help="crop margin (default facert.crop.DEFAULT_MARGIN)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--epochs", type=int, default=1000, help="upper bound; --minutes usually stops first")
    p.add_argument("--minutes", type=float, default=55.0, help="wall-clock training budget (lr schedule spans it)")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke runs)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N images (smoke runs)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--val-percent", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-batchnorm", dest="batchnorm", action="store_false",
                   help="plain torchvision SqueezeNet (no BatchNorm to fold)")
    p.add_argument("--relation-weight", type=float, default=1.0,
                   help="weight of the in-batch pair-similarity loss (0: embedding cosine only)")
    p.add_argument("--teacher-cache", type=Path, default=None,
                   help="teacher embeddings .npz (default WORK_DIR/teacher_<folder>.npz; computed when missing)")
    p.add_argument("--resume", type=Path, default=None, help="continue from a checkpoint written by this tool")


def _to_input(crops_bgr_u8: np.ndarray):
    """(N,H,W,3) uint8 BGR -> (N,3,H,W) float RGB in [0,1]."""
    import torch
    x = torch.from_numpy(crops_bgr_u8[..., ::-1].copy()).permute(0, 3, 1, 2).float()
    return x.mul_(1.0 / 255.0)


def _normalise(x):
    import torch
    mean = torch.tensor(INPUT_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(INPUT_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def evaluate(model, crops: np.ndarray, target, batch: int = 256) -> np.ndarray:
    """Per-image cosine between the student's and the teacher's embeddings."""
    import torch
    import torch.nn.functional as F
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            s = model(_normalise(_to_input(crops[i:i + batch])))
            out.append(F.cosine_similarity(s, target[i:i + batch], dim=1))
    model.train()
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def run(args, log=print) -> dict:
    import torch
    import torch.nn.functional as F

    from ..crop import DEFAULT_MARGIN
    from .augment import augment
    from .student import SqueezeNetEmbedder
    from .teacher import TEACHER_INFO
    from .transfer import list_images, split, student_crops, teacher_cache

    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = Path(args.data) if args.data else default_data_dir()
    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else work / "student.pth"

    names = list_images(data, args.limit or None)
    tcache = args.teacher_cache or work / f"teacher_{data.name}.npz"
    teacher = teacher_cache(data, names, tcache, log=log)
    tag = f"{data.name}_{len(names)}_{args.size}_m{margin}"
    crops = student_crops(data, names, args.size, margin, work / f"crops_{tag}.npz", log=log)["crops"]

    train_names, val_names = split(names, args.val_percent)
    if not train_names:
        raise ValueError(f"no training images after the {args.val_percent}% validation split")
    index = {n: i for i, n in enumerate(names)}
    tr = np.array([index[n] for n in train_names])
    va = np.array([index[n] for n in val_names], dtype=np.int64)
    # dlib's descriptors sit in a narrow cone (raw cosine of two strangers ~0.89, of any face to
    # the mean ~0.94), so a constant output would already score 0.94. The target is the teacher's
    # embedding minus its train-split mean, then L2-normalised: strangers ~0 cosine, and the loss
    # spends itself on what tells faces apart (Euclidean distances, dlib's own metric, unchanged).
    centre = teacher["emb"][tr].mean(axis=0)
    target = F.normalize(torch.from_numpy(teacher["emb"] - centre), dim=1)
    log(f"split: {len(tr)} train, {len(va)} val (file-name hash, {args.val_percent}%)")

    model = SqueezeNetEmbedder(dim=args.dim, batchnorm=args.batchnorm)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    epoch0 = 0
    if args.resume:
        ck = torch.load(args.resume, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["student"])
        opt.load_state_dict(ck["optimizer"])
        epoch0 = int(ck["epoch"]) + 1

    gen = torch.Generator().manual_seed(args.seed)
    curve_path = work / "curve.csv"
    budget = args.minutes * 60.0
    t_train = time.time()
    step, history = 0, []
    steps_per_epoch = max(1, len(tr) // args.batch)
    warmup = min(200, steps_per_epoch * 2)
    done = False
    with open(curve_path, "w", newline="") as fcsv:
        writer = csv.writer(fcsv)
        writer.writerow(["epoch", "step", "seconds", "lr", "train_loss", "val_cos_mean", "val_cos_p5"])
        for epoch in range(epoch0, args.epochs):
            perm = tr[torch.randperm(len(tr), generator=gen).numpy()]
            losses = []
            for b in range(steps_per_epoch):
                frac = (time.time() - t_train) / budget
                if frac >= 1.0 or (args.max_steps and step >= args.max_steps):
                    done = True   # budget spent: stop before a step at zero learning rate
                    break
                # Linear warm-up, then cosine decay over the wall-clock budget (adapts to machine speed).
                lr = args.lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
                for g in opt.param_groups:
                    g["lr"] = lr
                idx = perm[b * args.batch:(b + 1) * args.batch]
                x = _normalise(augment(_to_input(crops[idx]), gen))
                s_emb = F.normalize(model(x), dim=1)
                t_emb = target[idx]
                loss = (1.0 - (s_emb * t_emb).sum(1)).mean()
                if args.relation_weight > 0:
                    # Similarity-preserving term: the student's pair cosines within the batch match
                    # the teacher's, which is what verification reads.
                    loss = loss + args.relation_weight * F.mse_loss(s_emb @ s_emb.T, t_emb @ t_emb.T)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                step += 1
            if args.max_steps and step >= args.max_steps:
                done = True
            if not losses:
                break
            cos = evaluate(model, crops[va], target[va]) if len(va) else np.zeros(0)
            row = {"epoch": epoch, "step": step, "seconds": round(time.time() - t_train, 1), "lr": lr,
                   "train_loss": float(np.mean(losses)),
                   "val_cos_mean": float(cos.mean()) if len(cos) else float("nan"),
                   "val_cos_p5": float(np.percentile(cos, 5)) if len(cos) else float("nan")}
            history.append(row)
            writer.writerow(list(row.values()))
            fcsv.flush()
            log("epoch {epoch}: step {step}, {seconds} s, lr {lr:.2e}, loss {train_loss:.4f}, "
                "val cos mean {val_cos_mean:.4f} p5 {val_cos_p5:.4f}".format(**row))
            ckpt = {
                "student": model.state_dict(),
                "teacher": dict(TEACHER_INFO, target_centre=[float(v) for v in centre]),
                "epoch": epoch,
                "optimizer": opt.state_dict(),
                # What `facert convert` reads instead of asking (facert/convert/decide.py).
                "config": {"arch": "squeezenet1_1", "input_size": args.size, "margin": margin,
                           "dim": args.dim, "channel_order": INPUT_CHANNEL_ORDER, "scale": 1.0 / 255.0,
                           "mean": list(INPUT_MEAN), "std": list(INPUT_STD), "head_activation": "none",
                           "transfer_set": data.name, "val_percent": args.val_percent,
                           "relation_weight": args.relation_weight, "batchnorm": args.batchnorm, "lr": args.lr, "batch": args.batch},
                "val_cos_mean": row["val_cos_mean"],
                "val_cos_p5": row["val_cos_p5"],
            }
            tmp = out.with_suffix(".tmp")
            torch.save(ckpt, tmp)
            tmp.replace(out)  # a checkpoint every epoch: an early stop still leaves a usable model
            if done:
                break
    summary = {"checkpoint": str(out), "curve": str(curve_path), "steps": step,
               "epochs": len(history), "train_seconds": round(time.time() - t_train, 1),
               "total_seconds": round(time.time() - t_start, 1),
               "val_cos_mean": history[-1]["val_cos_mean"] if history else None,
               "val_cos_p5": history[-1]["val_cos_p5"] if history else None,
               "teacher_hog_found": int(teacher["found"].sum()), "images": len(names)}
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    log(f"done: {json.dumps(summary)}")
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="distill", description=__doc__.splitlines()[0])
    add_arguments(p)
    run(p.parse_args(argv))
    return 0
