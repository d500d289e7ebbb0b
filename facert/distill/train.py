"""Distil dlib's face descriptor into a SqueezeNet v1.1 student: `facert distill` / tools/distill.py.

Pipeline: transfer-set images -> one cached pass (facert.distill.transfer.prepare): the teacher's
descriptor on its own aligned chip, and the student's run-time crop (MTCNN -> facert.align)
-> train the student on augmented crops to match the teacher's centred, L2-normalised embedding:
  1 - cosine  +  in-batch pair-similarity MSE  +  (images with an identity) a CosFace margin term
  against the teacher's per-identity mean directions,
with a cosine learning-rate schedule over a wall-clock budget, the curve (held-out cosine per source,
LFW View 1 accuracy, held-out identity AUC) to CSV and PNG, and an ordinary distillation checkpoint with each row
(every --eval-every epochs).
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


DEFAULT_FOLDERS = ("utkface_part1", "utkface_more", "celeba_ids")


def default_data_dir() -> Path:
    """../shared/data relative to the repository (or the current directory)."""
    for base in (Path(__file__).resolve().parents[3], Path.cwd().parent, Path.cwd()):
        cand = base / "shared" / "data"
        if (cand / DEFAULT_FOLDERS[0]).is_dir():
            return cand
    return Path("../shared/data")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None, help="data root (default ../shared/data)")
    p.add_argument("--folders", nargs="+", default=list(DEFAULT_FOLDERS),
                   help="transfer-set folders under the root: flat folders of face images, or folders of "
                        "identity folders (celeba_ids/<id>/*.jpg), which also feed the identity term")
    p.add_argument("--workers", type=int, default=2, help="processes for the teacher/crop pass")
    p.add_argument("--teacher-mirror", action="store_true",
                   help="targets: the mean of the teacher's descriptors of its aligned chip and of the chip's mirror "
                        "image (one more teacher pass per image; cached apart from the plain targets)")
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/distill"), help="caches, log and checkpoints")
    p.add_argument("--out", type=Path, default=None, help="final checkpoint (default WORK_DIR/student.pth)")
    p.add_argument("--size", type=int, default=112, help="student input size (square)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--head", choices=("avg", "gdconv"), default="avg",
                   help="global pool after the 1x1 head conv: average pooling, or a global depthwise conv "
                        "(MobileFaceNet's GDConv; starts as the average, so --init from an avg model works)")
    p.add_argument("--epochs", type=int, default=1000, help="upper bound; --minutes usually stops first")
    p.add_argument("--minutes", type=float, default=55.0, help="wall-clock training budget (lr schedule spans it)")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke runs)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N images of each folder (smoke runs)")
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
    p.add_argument("--identity-weight", type=float, default=0.0,
                   help="weight of the CosFace term against the teacher's identity centres on images with an "
                        "identity (0, the default: off; its A/B held the held-out cosine down, see docs/model_card.md)")
    p.add_argument("--identity-scale", type=float, default=16.0)
    p.add_argument("--identity-margin", type=float, default=0.1)
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="score and save an exponential moving average of the weights (and BatchNorm statistics) "
                        "with this decay per step, e.g. 0.999 (0: off, the last step's weights)")
    p.add_argument("--eval-every", type=int, default=1, metavar="K",
                   help="score the curve and save the checkpoint every K epochs (and at the end)")
    p.add_argument("--lfw", type=Path, default=None,
                   help="LFW pairs file scored with every curve row (default DATA/lfw_devtest/pairsDevTest.txt "
                        "when present; 'none' to skip)")
    p.add_argument("--resume", type=Path, default=None, help="continue from a checkpoint written by this tool")
    p.add_argument("--init", type=Path, default=None,
                   help="start from a facert model file of this student (e.g. facert/models/default.sq.bin) "
                        "instead of random weights; a fresh optimizer and schedule")
    p.add_argument("--pack", type=Path, default=None,
                   help="write the transfer set (crops, targets, identities, LFW) to this file after the pass and "
                        "stop: for a machine without the data (facert.distill.pack)")
    p.add_argument("--packed", type=Path, default=None,
                   help="train from a file written by --pack instead of --data and the pass")
    p.add_argument("--device", default="cpu", help="torch device to train on: cpu, cuda")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="training forward passes: fp32, or bf16 autocast (weights, loss and evaluation stay fp32; "
                        "several times faster where the CPU has bf16 instructions, e.g. AVX-512 BF16)")


def _to_input(crops_bgr_u8: np.ndarray):
    """(N,H,W,3) uint8 BGR -> (N,3,H,W) float RGB in [0,1]."""
    import torch
    x = torch.from_numpy(crops_bgr_u8[..., ::-1].copy()).permute(0, 3, 1, 2).float()
    return x.mul_(1.0 / 255.0)


def _normalise(x):
    """(x - mean) / std, channels-last: the layout oneDNN's convolutions run fastest in (the model is
    channels-last too; the values are the same)."""
    import torch
    mean = torch.tensor(INPUT_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(INPUT_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def _weights(model) -> dict:
    """A state_dict to save: on the CPU, in the standard (contiguous) layout a converter reads."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def _scored_batches(model, crops: np.ndarray, score, batch: int = 256) -> np.ndarray:
    """score(model, x, rows) over the crops in batches, the model in eval mode without gradients; x is the
    normalised input of crops[rows]. The scores concatenated, as a NumPy array."""
    import torch
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            rows = slice(i, i + batch)
            out.append(score(model, _normalise(_to_input(crops[rows])).to(device), rows).cpu())
    model.train()
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def evaluate(model, crops: np.ndarray, target) -> np.ndarray:
    """Per-image cosine between the student's and the teacher's embeddings."""
    import torch.nn.functional as F
    return _scored_batches(model, crops, lambda m, x, rows: F.cosine_similarity(
        m(x), target[rows].to(x.device), dim=1))


def lfw_crops(pairs_file, work: Path, size: int, log=print):
    """(pairs, crops, index): the LFW View 1 pairs and every photo's run-time crop (MTCNN -> align),
    cached in work; a photo without a face has no crop (its pairs count as answered "different")."""
    import cv2

    from ..mtcnn import MTCNNDetector
    from .pairs import read_lfw_pairs
    from .transfer import student_crop

    pairs = read_lfw_pairs(pairs_file)
    paths = sorted({str(p) for a, b, _ in pairs for p in (a, b)})
    cache = work / f"lfw_crops_{size}.npz"
    if cache.exists():
        with np.load(cache) as z:
            if list(z["paths"]) == paths:
                return pairs, z["crops"], {p: int(i) for p, i in zip(paths, z["index"])}
    detector = MTCNNDetector()
    crops, index = [], {}
    for p in paths:
        crop, _ = student_crop(cv2.imread(p, cv2.IMREAD_COLOR), detector, size)
        index[p] = len(crops) if crop is not None else -1
        if crop is not None:
            crops.append(crop)
    crops = np.stack(crops)
    np.savez(cache, paths=np.array(paths), crops=crops, index=np.array([index[p] for p in paths]))
    log(f"lfw: {len(crops)}/{len(paths)} photos with a face")
    return pairs, crops, index


def face_embeddings(model, crops: np.ndarray) -> np.ndarray:
    """(N, dim) unit embeddings of the crops, face + mirror averaged as facert.face_embedding does."""
    import torch
    import torch.nn.functional as F
    return _scored_batches(model, crops, lambda m, x, rows: F.normalize(m(x) + m(torch.flip(x, dims=[3])), dim=1))


def identity_auc(model, crops: np.ndarray, identities: list[str]) -> float:
    """ROC AUC over every pair of these crops, same identity against different: verification on people the
    student never saw (the held-out CelebA identities), a figure that is not LFW's test pairs."""
    from .pairs import roc_auc
    emb = face_embeddings(model, crops)
    ids = np.array(identities)
    iu = np.triu_indices(len(ids), 1)
    return roc_auc((emb @ emb.T)[iu], (ids[:, None] == ids[None, :])[iu])


def lfw_accuracy(model, pairs, crops, index) -> float:
    """10-fold View 1 accuracy of the student, face + mirror averaged as facert.face_embedding does."""
    from .pairs import NO_FACE_SCORE, cross_validated
    emb = face_embeddings(model, crops)
    scores = np.array([NO_FACE_SCORE if min(index[str(a)], index[str(b)]) < 0
                       else float(emb[index[str(a)]] @ emb[index[str(b)]]) for a, b, _ in pairs])
    return cross_validated(scores, np.array([s for _, _, s in pairs]))["accuracy"]


def init_from_model_file(model, path, size: int, crops: np.ndarray, device) -> None:
    """model <- a facert model file of this student (facert.distill.student.load_model_file), after checking
    that the file's input contract is the one this tool trains with."""
    from ..numpy_net import read_sq_bin
    from .student import load_model_file

    _, graph, tensors = read_sq_bin(path)
    have = graph["input"]
    want = {"shape": [3, size, size], "channel_order": INPUT_CHANNEL_ORDER, "mean": list(INPUT_MEAN),
            "std": list(INPUT_STD)}
    differ = [f"{k} {have.get(k)} (the tool's: {v})" for k, v in want.items() if have.get(k) != v]
    if not math.isclose(have.get("scale", 0.0), 1.0 / 255.0):
        differ.append(f"scale {have.get('scale')} (the tool's: 1/255)")
    if differ:
        raise ValueError(f"--init {path}: its input is not what this tool trains on: {'; '.join(differ)}")
    load_model_file(model, tensors, _normalise(_to_input(crops)).to(device))


def identity_centres(target, identities: list[str], rows: np.ndarray):
    """(class of each image or -1, (K,dim) unit centres): the teacher's mean direction per identity,
    over the given (training) rows only."""
    import torch
    import torch.nn.functional as F
    names = sorted({identities[i] for i in rows if identities[i]})
    cls = {n: k for k, n in enumerate(names)}
    label = np.array([cls.get(i, -1) for i in identities], dtype=np.int64)
    label[np.setdiff1d(np.arange(len(identities)), rows)] = -1
    centres = torch.zeros(len(names), target.shape[1])
    if names:
        keep = label >= 0
        centres.index_add_(0, torch.from_numpy(label[keep]), target[torch.from_numpy(np.flatnonzero(keep))])
    return label, F.normalize(centres, dim=1)


def run(args, log=print) -> dict:
    import torch
    import torch.nn.functional as F

    from .augment import augment
    from .student import SqueezeNetEmbedder
    from .teacher import TEACHER_INFO
    from .transfer import list_transfer_set, prepare, split

    if args.init and args.resume:   # before the pass, which can take minutes
        raise ValueError("--init and --resume both say where the weights come from: give one")
    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = Path(args.data) if args.data else default_data_dir()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else work / "student.pth"

    if args.packed:
        from .pack import read_pack
        names, identities, prepared, lfw = read_pack(args.packed)
        if args.teacher_mirror and not prepared["teacher_mirror"]:
            raise ValueError(f"--teacher-mirror: {args.packed} holds the plain targets; pack it with --teacher-mirror")
    else:
        names, identities = list_transfer_set(data, args.folders, args.limit or None)
        prepared = prepare(data, names, work, args.size, workers=args.workers, log=log, mirror=args.teacher_mirror)
        lfw_file = args.lfw if args.lfw is not None else data / "lfw_devtest" / "pairsDevTest.txt"
        lfw = (lfw_crops(lfw_file, work, args.size, log) if str(lfw_file) != "none" and Path(lfw_file).is_file()
               else None)
    if args.pack:
        from .pack import write_pack
        size = write_pack(args.pack, names, identities, prepared, lfw)
        log(f"packed {len(names)} faces{' and LFW' if lfw else ''} into {args.pack} ({size / 2**20:.1f} MiB)")
        return {"pack": str(args.pack), "bytes": size, "images": len(names)}
    crops, aligned = prepared["crops"], prepared["aligned"]
    source = np.array([n.split("/", 1)[0] for n in names])
    tr, va = split(names, identities, args.val_percent)
    tr, va = tr[aligned[tr]], va[aligned[va]]   # no run-time crop, nothing to learn from or score
    if not len(tr):
        raise ValueError(f"no training images after the {args.val_percent}% validation split")
    # dlib's descriptors sit in a narrow cone (raw cosine of two strangers ~0.89, of any face to
    # the mean ~0.94), so a constant output would already score 0.94. The target is the teacher's
    # embedding minus its train-split mean, then L2-normalised: strangers ~0 cosine, and the loss
    # spends itself on what tells faces apart (Euclidean distances, dlib's own metric, unchanged).
    centre = prepared["emb"][tr].mean(axis=0)
    target = F.normalize(torch.from_numpy(prepared["emb"] - centre), dim=1)
    label, centres = identity_centres(target, identities, tr)
    label_t = torch.from_numpy(label)
    log(f"split: {len(tr)} train, {len(va)} val ({args.val_percent}% by hash of identity or file name); "
        f"{len(centres)} training identities")

    device = torch.device(args.device)
    model = SqueezeNetEmbedder(dim=args.dim, batchnorm=args.batchnorm, head=args.head, size=args.size).to(
        device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    epoch0 = 0
    if args.init:
        init_from_model_file(model, args.init, args.size, crops[tr[:512]], device)
        log(f"init: {args.init}'s weights, BatchNorms set to its activations' statistics on 512 training crops")
    if args.resume:
        ck = torch.load(args.resume, map_location="cpu", weights_only=True)
        head = ck.get("config", {}).get("head", "avg")
        if head != args.head:
            raise ValueError(f"--resume: {args.resume} has the {head!r} head; give --head {head}")
        model.load_state_dict(ck.get("student_train", ck["student"]))
        if "optimizer" in ck:   # absent from a weights-only copy (tools/device_distill.sh carries one)
            opt.load_state_dict(ck["optimizer"])
        epoch0 = int(ck["epoch"]) + 1
    target, centres, label_t = target.to(device), centres.to(device), label_t.to(device)
    ema = None
    if args.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
        # BatchNorm statistics averaged too (use_buffers): the saved model's buffers match its weights.
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
        if args.resume and "student_train" in ck:   # the checkpoint's "student" is the average
            ema.module.load_state_dict(ck["student"])
            ema.n_averaged.fill_(1)
    scored = ema.module if ema else model   # what is evaluated and saved as "student"

    gen = torch.Generator().manual_seed(args.seed)
    curve_path = work / "curve.csv"
    sources = sorted(set(source[va]))
    va_id = np.array([i for i in va if identities[i]], dtype=np.int64)   # held-out people
    budget = args.minutes * 60.0
    t_train = time.time()
    step, history = 0, []
    steps_per_epoch = max(1, len(tr) // args.batch)
    warmup = min(200, steps_per_epoch * 2)
    done, losses = False, []   # losses: the training steps since the last curve row
    with open(curve_path, "w", newline="") as fcsv:
        writer = csv.writer(fcsv)
        writer.writerow(["epoch", "step", "seconds", "lr", "train_loss", "val_cos_mean", "val_cos_p5"]
                        + [f"val_cos_{s}" for s in sources] + ["val_id_auc", "lfw_acc"])
        for epoch in range(epoch0, args.epochs):
            perm = tr[torch.randperm(len(tr), generator=gen).numpy()]
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
                x = _normalise(augment(_to_input(crops[idx]), gen)).to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                    out_emb = model(x)
                s_emb = F.normalize(out_emb.float(), dim=1)
                t_emb = target[idx]
                loss = (1.0 - (s_emb * t_emb).sum(1)).mean()
                if args.relation_weight > 0:
                    # Similarity-preserving term: the student's pair cosines within the batch match
                    # the teacher's, which is what verification reads.
                    loss = loss + args.relation_weight * F.mse_loss(s_emb @ s_emb.T, t_emb @ t_emb.T)
                y = label_t[idx]
                if args.identity_weight > 0 and bool((y >= 0).any()):
                    # CosFace: each labelled face nearer its identity's teacher direction than any
                    # other identity's, by a margin.
                    has = y >= 0
                    logits = s_emb[has] @ centres.T
                    logits = logits - args.identity_margin * F.one_hot(y[has], len(centres))
                    loss = loss + args.identity_weight * F.cross_entropy(args.identity_scale * logits, y[has])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if ema:
                    ema.update_parameters(model)
                losses.append(float(loss.detach()))
                step += 1
            if args.max_steps and step >= args.max_steps:
                done = True
            if not losses:
                break
            if (epoch - epoch0 + 1) % args.eval_every and not done and epoch + 1 < args.epochs:
                continue
            cos = evaluate(scored, crops[va], target[va]) if len(va) else np.zeros(0)
            row = {"epoch": epoch, "step": step, "seconds": round(time.time() - t_train, 1), "lr": lr,
                   "train_loss": float(np.mean(losses)),
                   "val_cos_mean": float(cos.mean()) if len(cos) else float("nan"),
                   "val_cos_p5": float(np.percentile(cos, 5)) if len(cos) else float("nan")}
            losses = []
            for s in sources:
                row[f"val_cos_{s}"] = float(cos[source[va] == s].mean())
            row["val_id_auc"] = (identity_auc(scored, crops[va_id], [identities[i] for i in va_id])
                                 if len(va_id) else float("nan"))
            row["lfw_acc"] = lfw_accuracy(scored, *lfw) if lfw else float("nan")
            history.append(row)
            writer.writerow(list(row.values()))
            fcsv.flush()
            log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
            ckpt = {
                "student": _weights(scored),
                "teacher": dict(TEACHER_INFO, target_centre=[float(v) for v in centre],
                                mirror=bool(prepared["teacher_mirror"])),
                "epoch": epoch,
                "optimizer": opt.state_dict(),
                # What `facert convert` reads instead of asking (facert/convert/decide.py).
                "config": {"arch": "squeezenet1_1", "input_size": args.size, "crop": "mtcnn+align",
                           "dim": args.dim, "head": args.head, "channel_order": INPUT_CHANNEL_ORDER, "scale": 1.0 / 255.0,
                           "mean": list(INPUT_MEAN), "std": list(INPUT_STD), "head_activation": "none",
                           "transfer_set": list(args.folders), "val_percent": args.val_percent,
                           "relation_weight": args.relation_weight, "identity_weight": args.identity_weight,
                           "batchnorm": args.batchnorm, "lr": args.lr, "batch": args.batch,
                           "init": str(args.init) if args.init else None, "ema": args.ema,
                           "precision": args.precision},
                "val_cos_mean": row["val_cos_mean"],
                "val_cos_p5": row["val_cos_p5"],
            }
            if ema:   # the weights training goes on from (--resume)
                ckpt["student_train"] = _weights(model)
            tmp = out.with_suffix(".tmp")
            torch.save(ckpt, tmp)
            tmp.replace(out)  # a checkpoint with every curve row: an early stop still leaves a usable model
            if done:
                break
    summary = {"checkpoint": str(out), "curve": str(curve_path), "steps": step,
               "epochs": len(history), "train_seconds": round(time.time() - t_train, 1),
               "total_seconds": round(time.time() - t_start, 1),
               "images": len(names), "train_images": len(tr), "val_images": len(va),
               "last": history[-1] if history else None}
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    plot_curve(curve_path, work / "curve.png")
    log(f"done: {json.dumps(summary)}")
    return summary


def plot_curve(curve_csv: Path, png: Path) -> bool:
    """Held-out cosine per source and LFW accuracy against step, as a PNG (when matplotlib is there)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = list(csv.DictReader(open(curve_csv)))
    if not rows:
        return False
    step = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    for k in rows[0]:
        if k.startswith("val_cos_") and k != "val_cos_p5":
            ax.plot(step, [float(r[k]) for r in rows], label=k.replace("val_cos_", "held-out cosine, "))
    ax.set_xlabel("step (batch of 64)")
    ax.set_ylabel("cosine to the teacher")
    if any(np.isfinite(float(r["lfw_acc"])) for r in rows):
        ax2 = ax.twinx()
        ax2.plot(step, [100 * float(r["lfw_acc"]) for r in rows], "k--", label="LFW View 1, %")
        ax2.set_ylabel("LFW View 1 10-fold accuracy, %")
        ax2.legend(loc="lower right")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="distill", description=__doc__.splitlines()[0])
    add_arguments(p)
    run(p.parse_args(argv))
    return 0
