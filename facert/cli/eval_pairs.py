"""`facert eval-pairs`: LFW View 1 (and people/) verification accuracy, student and teacher."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval-pairs", help="verification accuracy on LFW View 1 pairs through facert's pipeline",
        description="Student: facert.detect -> align (face_crop for Haar boxes) -> embed -> cosine; teacher (--teacher, needs "
                    "dlib-bin + face-recognition-models): dlib's own pipeline. Reports 10-fold "
                    "cross-validated accuracy, accuracy at the model's stored threshold, and the "
                    "calibrated threshold (median of the fold thresholds).")
    p.add_argument("--pairs", type=Path, default=None,
                   help="LFW pairs file (default ../shared/data/lfw_devtest/pairsDevTest.txt)")
    p.add_argument("--people", type=Path, default=None, help="people/ folder (default ../shared/data/people)")
    p.add_argument("--model", default=None, help="sq.bin (default: the bundled model)")
    p.add_argument("--detector", choices=("haar", "mtcnn"), default=None,
                   help="the student's face detector (default: facert.detect's; mtcnn aligns on its landmarks)")
    p.add_argument("--teacher", action="store_true", help="also evaluate dlib's teacher (slow: ~0.1 s a photo)")
    p.add_argument("--teacher-cache", type=Path, default=None, help="reuse/store teacher embeddings in this .npz")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    import facert
    from facert.demo import find_people_dir
    from facert.faces import FACE_EMBEDDING
    from facert.distill.pairs import (evaluate_pairs, people_pairs, read_lfw_pairs, student_embeddings,
                                      teacher_embeddings)

    people = args.people or find_people_dir()
    pairs_file = args.pairs or (people.parent / "lfw_devtest" / "pairsDevTest.txt" if people else None)
    if pairs_file is None or not Path(pairs_file).is_file():
        print(f"facert eval-pairs: error: LFW pairs file not found ({pairs_file}); pass --pairs",
              file=sys.stderr)
        return 2
    lfw = read_lfw_pairs(pairs_file)
    ppl = people_pairs(people) if people else []
    engine = facert.Engine(args.model, threads=args.threads)
    meta = engine.info.get("metadata", {})
    stored = float(meta["verify_threshold"]) if "verify_threshold" in meta else None
    paths = sorted({p for a, b, _ in lfw + ppl for p in (a, b)})
    plain, flipped, timing = student_embeddings(paths, engine, args.detector)
    mine, other = (flipped, plain) if FACE_EMBEDDING == "face+mirror" else (plain, flipped)
    report = {"model": args.model or "bundled", "timing": timing, "embedding": FACE_EMBEDDING,
              "detector": args.detector or "default",
              # "student" embeds as facert.face_embedding does; "student_other" the other way.
              "student": {"lfw": evaluate_pairs(lfw, mine, "cosine", stored),
                          "people": evaluate_pairs(ppl, mine, "cosine", stored) if ppl else None},
              "student_other": {"lfw": evaluate_pairs(lfw, other, "cosine", None),
                                "people": evaluate_pairs(ppl, other, "cosine", None) if ppl else None}}
    if args.teacher:
        temb = teacher_embeddings(paths, args.teacher_cache)
        report["teacher"] = {"lfw": evaluate_pairs(lfw, temb, "euclidean", -0.6),
                             "people": evaluate_pairs(ppl, temb, "euclidean", -0.6) if ppl else None}
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def _print(report: dict) -> None:
    for who in ("student", "student_other", "teacher"):
        if who not in report:
            continue
        for name, r in report[who].items():
            if not r:
                continue
            line = f"{who:14} {name:6} {r['pairs']} pairs ({r['no_face_pairs']} with an undetected face)"
            line += f", ROC AUC {r['auc']:.4f}"
            if r.get("cv10"):
                cv = r["cv10"]
                line += f": 10-fold accuracy {100 * cv['accuracy']:.1f}% ± {100 * cv['std']:.1f}"
                line += f", calibrated threshold {cv['threshold']:.4f}"
            if "accuracy_at_threshold" in r:
                line += f"; at stored threshold {r['threshold']:.4f}: {100 * r['accuracy_at_threshold']:.1f}%"
            print(line)
    t = report["timing"]
    print(f"student: embedding {report['embedding']} (facert.face_embedding; student_other: the other one); "
          f"a threshold calibrated here goes with --meta verify_embedding={report['embedding']}")
    print(f"student timing (median per photo): detect {t['detect_ms']:.1f} ms, crop + embed {t['crop_embed_ms']:.2f} ms")
