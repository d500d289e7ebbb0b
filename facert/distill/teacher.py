"""The distillation teacher: dlib's ResNet face descriptor (128-d) on its own 5-point aligned chip.

dlib, dlib-bin and face-recognition-models are optional extras for the tool, never runtime
dependencies of facert: everything here imports them lazily.
"""
from __future__ import annotations

import numpy as np

# dlib's aligned chip: compute_face_descriptor(img, shape) makes this one, and the mirror view flips it.
CHIP_SIZE, CHIP_PADDING = 150, 0.25

# Describes the teacher inside the distillation checkpoint (checkpoint["teacher"]).
TEACHER_INFO = {
    "name": "dlib_face_recognition_resnet_model_v1",
    "package": "face-recognition-models",
    "dim": 128,
    "input": f"{CHIP_SIZE}x{CHIP_SIZE} chip aligned by shape_predictor_5_face_landmarks, padding {CHIP_PADDING}",
    "detector": "dlib HOG frontal face detector (upsample 1); else the student's MTCNN box; else the whole image",
    "verify_threshold_euclidean": 0.6,
}


def teacher_available() -> bool:
    try:
        import dlib  # noqa: F401
        import face_recognition_models  # noqa: F401
    except ImportError:
        return False
    return True


class DlibTeacher:
    """dlib's HOG detector -> 5-point landmarks -> aligned chip -> 128-d ResNet descriptor."""

    def __init__(self, upsample: int = 1):
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as e:  # the tool's extras are missing
            raise ImportError(
                "the distillation teacher needs `pip install dlib-bin face-recognition-models`") from e
        self._dlib = dlib
        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def face_rect(self, rgb: np.ndarray):
        """Largest HOG face, or None."""
        rects = self.detector(rgb, self.upsample)
        if len(rects) == 0:
            return None
        return max(rects, key=lambda r: r.width() * r.height())

    def embed(self, img_bgr: np.ndarray, box=None, fallback_whole: bool = True, mirror: bool = False):
        """(128,) float32 descriptor of the largest face, and where its face box came from:
        "hog" (dlib's own detector); "mtcnn" (box, an (x, y, w, h) hint, used when HOG finds nothing);
        "whole" (the whole image, when fallback_whole is set: right for transfer-set chips centred on
        one face). (None, "none") when there is no box at all.
        mirror: the mean of the descriptors of the aligned chip and of its mirror image (dlib on View 1: 97.9%
        against 97.5%), one more network pass.
        """
        rgb = np.ascontiguousarray(img_bgr[:, :, ::-1])
        rect, how = self.face_rect(rgb), "hog"
        if rect is None and box is not None:
            x, y, w, h = (int(round(v)) for v in box)
            rect, how = self._dlib.rectangle(x, y, x + w - 1, y + h - 1), "mtcnn"
        if rect is None:
            if not fallback_whole:
                return None, "none"
            h, w = rgb.shape[:2]
            rect, how = self._dlib.rectangle(0, 0, w - 1, h - 1), "whole"
        shape = self.landmarks(rgb, rect)
        desc = np.asarray(self.net.compute_face_descriptor(rgb, shape), dtype=np.float32)
        if mirror:   # the chip compute_face_descriptor(rgb, shape) aligns, flipped left-right
            chip = self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            flipped = np.asarray(self.net.compute_face_descriptor(np.ascontiguousarray(chip[:, ::-1])), np.float32)
            desc = 0.5 * (desc + flipped)
        return desc, how
