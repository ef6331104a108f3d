"""A config student's embeddings from the teacher's, projected by PCA."""

import pytest
import torch

from liteformer.compress.teacher_init import init_embeddings_
from liteformer.errors import LiteformerError
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification
from liteformer.train.distill import StudentSpec


def _model(hidden: int, vocab: int = 50) -> TransformerForSequenceClassification:
    return TransformerForSequenceClassification(TransformerConfig.tiny(vocab_size=vocab, hidden_size=hidden,
                                                                       num_heads=2))


def test_full_width_projection_is_a_rotation_and_narrow_keeps_the_top_directions():
    torch.manual_seed(0)
    teacher = _model(32)
    vocab = {f"t{i}": i for i in range(50)}
    same = _model(32)
    rep = init_embeddings_(same, teacher, vocab, vocab)
    assert rep["tokens_copied"] == 50 and rep["variance_kept"] == pytest.approx(1.0)
    # an orthogonal change of basis keeps every distance between token vectors
    d_t = torch.cdist(teacher.encoder.embeddings.word.weight, teacher.encoder.embeddings.word.weight)
    d_s = torch.cdist(same.encoder.embeddings.word.weight, same.encoder.embeddings.word.weight)
    assert torch.allclose(d_t, d_s, atol=1e-4)
    narrow = _model(8)
    rep = init_embeddings_(narrow, teacher, vocab, vocab)
    assert rep["width"] == [32, 8] and 8 / 32 < rep["variance_kept"] < 1
    assert narrow.encoder.embeddings.position.weight.abs().sum() > 0


def test_unknown_tokens_stay_random_and_wider_students_are_refused():
    torch.manual_seed(0)
    teacher, student = _model(32), _model(16, vocab=60)
    before = student.encoder.embeddings.word.weight.detach().clone()
    s_vocab = {f"t{i}": i for i in range(50)} | {f"new{i}": 50 + i for i in range(10)}
    rep = init_embeddings_(student, teacher, s_vocab, {f"t{i}": i for i in range(50)})
    w = student.encoder.embeddings.word.weight
    assert rep["tokens_copied"] == 50 and torch.equal(w[50:], before[50:]) and not torch.equal(w[:50], before[:50])
    with pytest.raises(LiteformerError, match="larger than the teacher"):
        init_embeddings_(_model(64), teacher, s_vocab, s_vocab)
    with pytest.raises(LiteformerError, match="goes with --student-config"):
        StudentSpec(layers=[0], init_embeddings=True).validate()
