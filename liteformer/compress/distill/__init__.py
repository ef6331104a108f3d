"""Distillation's pieces, in one place (the training run that uses them is ``train/distill.py``):

    loss.py           DistillConfig, DistillLoss: soft targets with temperature, hidden-state and
                      attention losses
    student.py        StudentSpec, build_student: teacher layers, a config (new vocabulary, PCA
                      embeddings or cut from the teacher) or any checkpoint
    teacher_init.py   a config student cut out of the teacher (Minitron-style), PCA embeddings
    teacher_cache.py  the teacher's outputs computed once (memory or memory-mapped files)
    augment.py        TinyBERT-style neighbour-swap augmentation
"""

from liteformer.compress.distill.augment import augment_texts, embedding_neighbours
from liteformer.compress.distill.loss import DistillConfig, DistillLoss, kd_loss, uniform_layer_map
from liteformer.compress.distill.student import (
    TEACHER_CHANNELS,
    StudentSpec,
    build_student,
    student_from_teacher,
)
from liteformer.compress.distill.teacher_cache import teacher_outputs

__all__ = ["TEACHER_CHANNELS", "DistillConfig", "DistillLoss", "StudentSpec", "augment_texts", "build_student",
           "embedding_neighbours", "kd_loss", "student_from_teacher", "teacher_outputs", "uniform_layer_map"]
