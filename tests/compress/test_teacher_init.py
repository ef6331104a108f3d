"""A config student's embeddings from the teacher's, projected by PCA."""

import pytest
import torch

from liteformer.compress.distill import StudentSpec
from liteformer.compress.distill.teacher_init import init_embeddings_, init_from_teacher_, spread_layers
from liteformer.errors import LiteformerError
from liteformer.models.transformer import TransformerConfig, TransformerForSequenceClassification


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


# ------------------------------------------------------------------------------------------------
# every weight cut from the teacher (init_from_teacher_)


def _cfg_model(**kw) -> TransformerForSequenceClassification:
    return TransformerForSequenceClassification(TransformerConfig.tiny(**{"num_layers": 4, **kw})).eval()


def _ids(n: int = 40, vocab: int = 100) -> list[list[int]]:
    g = torch.Generator().manual_seed(1)
    return [torch.randint(5, vocab, (int(torch.randint(3, 12, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]


def test_full_size_cut_is_the_teacher_and_spread_layers():
    torch.manual_seed(0)
    teacher, student = _cfg_model(), _cfg_model()
    vocab = {f"t{i}": i for i in range(100)}
    rep = init_from_teacher_(student, teacher, vocab, vocab, _ids(), pad_id=0)
    assert rep["layers"] == [0, 1, 2, 3] and rep["hidden_channels"] == list(range(32))
    x = torch.randint(5, 100, (3, 7))
    m = torch.ones_like(x)
    m[0, 5:] = 0
    torch.testing.assert_close(student(x, m), teacher(x, m))  # nothing cut: the same function
    assert spread_layers(3, 6) == [0, 2, 4] and spread_layers(4, 6) == [0, 2, 3, 4] and spread_layers(1, 6) == [0]


def test_narrow_cut_keeps_the_important_channels_heads_and_neurons():
    torch.manual_seed(0)
    teacher = _cfg_model()
    with torch.no_grad():  # plant: channel 5 large everywhere, head 1 of layer 2 and neuron 7 of layer 2 dead
        for norm in [teacher.encoder.embeddings.norm] + [n for b in teacher.encoder.layers
                                                         for n in (b.attn_norm, b.ffn_norm)]:
            norm.weight[5] = 20.0
        attn, ffn = teacher.encoder.layers[2].attn, teacher.encoder.layers[2].ffn
        attn.v.weight[8:16] = 0
        attn.v.bias[8:16] = 0
        ffn.up.weight[7] = 0
        ffn.up.bias[7] = -10.0  # GELU(-10) = 0: the neuron never fires
    student = _cfg_model(num_layers=2, hidden_size=16, num_heads=3, head_dim=8, ffn_dim=[64, 63])
    vocab = {f"t{i}": i for i in range(100)}
    rep = init_from_teacher_(student, teacher, vocab, vocab, _ids(), pad_id=0)
    ch = torch.tensor(rep["hidden_channels"])
    assert rep["layers"] == [0, 2] and len(ch) == 16 and 5 in ch.tolist()
    assert 1 not in rep["heads"][1] and len(rep["heads"][1]) == 3
    s, t = student.encoder.layers[1].ffn, teacher.encoder.layers[2].ffn
    kept = [f for f in range(64) if f != 7]  # 63 of 64 neurons: the dead one goes
    torch.testing.assert_close(s.up.weight, t.up.weight[kept][:, ch])
    torch.testing.assert_close(s.down.weight, t.down.weight[ch][:, kept])
    torch.testing.assert_close(student.encoder.embeddings.word.weight, teacher.encoder.embeddings.word.weight[:, ch])
    torch.testing.assert_close(student.classifier.weight, teacher.classifier.weight[:, ch])
    assert torch.isfinite(student(torch.randint(5, 100, (2, 6)))).all()


def test_cut_refuses_shapes_the_teacher_cannot_give():
    teacher, vocab = _cfg_model(), {f"t{i}": i for i in range(100)}
    for student, msg in [(_cfg_model(hidden_size=16, num_heads=4), "head_dim"),  # 4 heads of 4, teacher's 8
                         (_cfg_model(hidden_size=64, num_heads=8), "larger than the teacher"),
                         (_cfg_model(num_layers=5), "num_layers"),
                         (_cfg_model(ffn_dim=128), "wider than teacher layer")]:
        with pytest.raises(LiteformerError, match=msg):
            init_from_teacher_(student, teacher, vocab, vocab, _ids(), pad_id=0)
    with pytest.raises(LiteformerError, match="needs texts"):
        init_from_teacher_(_cfg_model(), teacher, vocab, vocab, [], pad_id=0)
    for spec in (StudentSpec(layers=[0], init_from_teacher=True),
                 StudentSpec(config="c.json", init_embeddings=True, init_from_teacher=True)):
        with pytest.raises(LiteformerError, match="--student-init-from-teacher goes with"):
            spec.validate()


def _seq2seq(seed, **kw):
    from liteformer.models.seq2seq import TransformerForSeq2SeqLM
    torch.manual_seed(seed)
    base = {"vocab_size": 60, "num_decoder_layers": 2, "type_vocab_size": 0, "pooler": "none", "num_labels": 1,
            "norm_first": True, "num_heads": 4, "head_dim": 8}
    return TransformerForSeq2SeqLM(TransformerConfig.tiny(**{**base, **kw})).eval()


def _pairs(n=16):
    g = torch.Generator().manual_seed(0)
    return [(torch.randint(4, 60, (int(s),), generator=g).tolist() + [2],
             torch.randint(4, 60, (int(s) + 1,), generator=g).tolist() + [2]) for s in torch.randint(3, 8, (n,))]


def test_seq2seq_full_size_cut_is_the_teacher_and_a_narrow_cut_is_its_slices():
    from liteformer.compress.distill.teacher_init import init_seq2seq_from_teacher_
    teacher, pairs = _seq2seq(0), _pairs()
    twin = _seq2seq(1)  # same shape, other weights: the cut must overwrite all of them
    init_seq2seq_from_teacher_(twin, teacher, pairs, 0, 1)
    src, dec = torch.tensor([[5, 6, 7, 2]]), torch.tensor([[1, 9, 8]])
    ones = lambda x: torch.ones_like(x)  # noqa: E731
    with torch.no_grad():
        assert torch.equal(twin(src, ones(src), dec, ones(dec)), teacher(src, ones(src), dec, ones(dec)))
    small = _seq2seq(2, hidden_size=16, num_heads=2, ffn_dim=24, num_layers=1, num_decoder_layers=1,
                     decoder_cross_heads=1)
    notes = init_seq2seq_from_teacher_(small, teacher, pairs, 0, 1)
    ch = torch.tensor(notes["hidden_channels"])
    assert len(ch) == 16 and notes["decoder_layers"] == [0] and len(notes["cross_heads"][0]) == 1
    c = notes["cross_heads"][0][0]
    assert torch.equal(small.decoder.layers[0].cross.q.weight, teacher.decoder.layers[0].cross.q.weight[8 * c:
                                                                                                     8 * c + 8][:, ch])
    assert torch.equal(small.encoder.embeddings.word.weight, teacher.encoder.embeddings.word.weight[:, ch])
    with pytest.raises(LiteformerError, match="wider than teacher encoder layer 0"):
        init_seq2seq_from_teacher_(_seq2seq(3, ffn_dim=128), teacher, pairs, 0, 1)


def test_light_students_are_cut_where_a_plain_layer_maps():
    """A full-size pre-LN cut into a layer with a convolution module and an inverted ReLU FFN is the
    teacher (the module starts silent, the depthwise taps as the identity); an LSRA layer's attention
    is the teacher's heads on its attention channels, its convolution branch silent; a bottleneck or
    NoNorm student and a light teacher are refused by block type."""
    torch.manual_seed(0)
    vocab = {f"t{i}": i for i in range(100)}
    teacher = _cfg_model(norm_first=True, activation="relu")
    student = _cfg_model(norm_first=True, activation="relu", conv_module=True, ffn_type="inverted", conv_kernel=3)
    init_from_teacher_(student, teacher, vocab, vocab, _ids(), pad_id=0)
    x = torch.randint(5, 100, (3, 7))
    torch.testing.assert_close(student(x), teacher(x))
    lsra = _cfg_model(norm_first=True, activation="relu", hidden_size=32, num_heads=2, conv_dim=16)
    rep = init_from_teacher_(lsra, teacher, vocab, vocab, _ids(), pad_id=0)
    ch = torch.tensor(rep["hidden_channels"])
    blk, t = lsra.encoder.layers[0], teacher.encoder.layers[0]
    rows = (torch.tensor(rep["heads"][0])[:, None] * 8 + torch.arange(8)).flatten()
    torch.testing.assert_close(blk.attn.q.weight, t.attn.q.weight[rows][:, ch[:16]])
    assert blk.local.out.weight.abs().max() == 0 and torch.isfinite(lsra(x)).all()
    for light, blocks in ((dict(bottleneck_dim=16, num_heads=2), "bottlenecks"), (dict(norm="nonorm"), "NoNorm")):
        with pytest.raises(LiteformerError, match=f"this student has {blocks}"):
            init_from_teacher_(_cfg_model(**light), teacher, vocab, vocab, _ids(), pad_id=0)
    with pytest.raises(LiteformerError, match="this teacher has LSRA"):
        init_from_teacher_(_cfg_model(), _cfg_model(conv_dim=16), vocab, vocab, _ids(), pad_id=0)
