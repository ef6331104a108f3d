"""Start a narrower student from the teacher's embeddings instead of random ones.

A student built from a config has no pretraining; its word embeddings are the part that takes the
longest to learn from a task's few thousand sentences. Here its tables (word, position, token type)
are the teacher's projected onto their top principal directions: with P the E_t × E_s matrix of the
first E_s right-singular vectors of the teacher's centred word table, student row = teacher row · P.
Tokens of a student vocabulary that the teacher lacks keep their random rows. Everything above the
embeddings (attention, FFN, LayerNorms) stays random: this is the only weight the student inherits.
"""

from __future__ import annotations

import torch
from torch import nn

from liteformer.errors import LiteformerError


@torch.no_grad()
def init_embeddings_(student: nn.Module, teacher: nn.Module, student_vocab: dict[str, int],
                     teacher_vocab: dict[str, int]) -> dict:
    """Overwrite ``student``'s embedding tables in place; return what was copied."""
    s, t = student.encoder.embeddings, teacher.encoder.embeddings
    if not all(isinstance(m.word, nn.Embedding) for m in (s, t)):
        raise LiteformerError("embedding init needs plain (not factorized) embedding tables")
    e_s, e_t = s.word.weight.shape[1], t.word.weight.shape[1]
    if e_s > e_t:
        raise LiteformerError(f"embedding init projects down: the student's embedding width {e_s} is "
                              f"larger than the teacher's {e_t}")
    table = t.word.weight.float()  # (V_t, E_t)
    _, sv, vh = torch.linalg.svd(table - table.mean(0), full_matrices=False)
    P = vh[:e_s].T  # (E_t, E_s), orthonormal columns
    pairs = [(i, teacher_vocab[tok]) for tok, i in student_vocab.items()
             if tok in teacher_vocab and i < s.word.num_embeddings]
    si, ti = torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs])
    s.word.weight[si] = (table[ti] @ P).to(s.word.weight.dtype)  # (n, E_s)
    n_pos = min(s.position.num_embeddings, t.position.num_embeddings)
    s.position.weight[:n_pos] = (t.position.weight[:n_pos].float() @ P).to(s.position.weight.dtype)
    if s.token_type is not None and t.token_type is not None:
        n_tt = min(s.token_type.num_embeddings, t.token_type.num_embeddings)
        s.token_type.weight[:n_tt] = (t.token_type.weight[:n_tt].float() @ P).to(s.token_type.weight.dtype)
    energy = float((sv[:e_s] ** 2).sum() / (sv ** 2).sum())
    return {"tokens_copied": len(pairs), "student_vocab": s.word.num_embeddings, "width": [e_t, e_s],
            "variance_kept": round(energy, 4)}
