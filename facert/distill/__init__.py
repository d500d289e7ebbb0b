"""facert's distillation tool (tools/distill.py, `facert distill`): teacher, transfer set, student, training.

Needs the tool's extras (torch; dlib-bin and face-recognition-models for the teacher); facert's
runtime never imports this package.
"""
