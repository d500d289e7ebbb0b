"""facert's distillation tool (tools/distill.py, `facert distill`): teacher, transfer set, student, training.

Needs the tool's extras (torch; dlib-bin and face-recognition-models for the teacher); facert's
runtime never imports this package.
"""


def progress(iterable, total: int, desc: str, every: float = 10.0):
    """iterable with a tqdm bar (one refresh every `every` seconds at most) where tqdm is installed."""
    try:
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=desc, mininterval=every)
    except ImportError:
        return iterable
