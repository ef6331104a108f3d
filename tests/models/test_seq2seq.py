"""The encoder-decoder with its key/value cache, the decoder stacks, and generation."""

import pytest
import torch

from liteformer.models.seq2seq import TransformerForCausalLM, TransformerForSeq2SeqLM
from liteformer.models.transformer import TransformerConfig
from tests.models.test_transformer import _batch


def test_causal_lm_is_causal():
    torch.manual_seed(0)
    model = TransformerForCausalLM(TransformerConfig.tiny(norm_first=True)).eval()
    ids, _ = _batch(B=1)
    a = model(ids)
    ids2 = ids.clone()
    ids2[0, 5] = 7  # changing a later token leaves earlier positions untouched
    b = model(ids2)
    torch.testing.assert_close(a[0, :5], b[0, :5])
    assert not torch.allclose(a[0, 5:], b[0, 5:])
    assert a.shape == (1, 7, 100)


def test_seq2seq_shapes_and_heterogeneous_decoder():
    cfg = TransformerConfig.tiny(num_decoder_layers=2, decoder_num_heads=[4, 2], decoder_ffn_dim=[32, 16], head_dim=8)
    model = TransformerForSeq2SeqLM(cfg).eval()
    src, smask = _batch(T=9)
    tgt, tmask = _batch(T=5)
    assert model(src, smask, tgt, tmask).shape == (2, 5, 100)
    assert model.decoder.embeddings.word is model.encoder.embeddings.word


def test_torch_export_decoder_dynamic_length():
    torch.manual_seed(0)
    model = TransformerForCausalLM(TransformerConfig.tiny()).eval()
    ids, mask = _batch(T=8)
    seq = torch.export.Dim("seq", min=2, max=64)
    ep = torch.export.export(model, (ids, mask), dynamic_shapes=({1: seq}, {1: seq}), strict=False)
    ids, mask = _batch(T=13)
    torch.testing.assert_close(ep.module()(ids, mask), model(ids, mask))


def _nmt(**kw):
    torch.manual_seed(0)
    cfg = TransformerConfig.tiny(num_decoder_layers=2, type_vocab_size=0, pooler="none", **kw)
    return TransformerForSeq2SeqLM(cfg).eval()


@pytest.mark.parametrize("kw", [dict(), dict(norm_first=True, positions="sinusoidal"),
                                dict(decoder_num_heads=[4, 2], decoder_ffn_dim=[32, 16], head_dim=8)])
def test_cached_steps_give_the_full_decoders_logits(kw):
    """decode_step at position t == the teacher-forced decoder's logits at t, for every t and row."""
    model = _nmt(**kw)
    src, smask = _batch(T=9)
    tgt = torch.randint(5, 100, (2, 6), generator=torch.Generator().manual_seed(1))
    full = model(src, smask, tgt)  # (B, T, V)
    state = model.encode(src, smask, max_target=12)
    for t in range(tgt.shape[1]):
        logits, state = model.decode_step(tgt[:, t:t + 1], torch.tensor([t]), state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-4)


def test_state_select_reorders_rows():
    model = _nmt()
    src, smask = _batch(T=9)
    state = model.encode(src, smask, max_target=4)
    again = state.select(torch.tensor([1, 1, 0]))
    assert again.cross_k[0].shape[0] == 3 and torch.equal(again.cross_k[0][2], state.cross_k[0][0])
    assert torch.equal(again.source_mask[0], state.source_mask[1])


def test_sinusoidal_positions_are_fixed():
    model = _nmt(positions="sinusoidal")
    emb = model.encoder.embeddings
    assert emb.position is None and emb.sinusoids.shape == (64, 32)
    assert "encoder.embeddings.sinusoids" not in model.state_dict()  # derived, not saved
    with pytest.raises(ValueError, match="positions"):
        TransformerConfig.tiny(positions="rotary")


# ----------------------------------------------------------------------------------------------
# generation

from liteformer.errors import LiteformerError  # noqa: E402
from liteformer.models.generation import GenerationConfig, generate, model_calls  # noqa: E402


class _Prefix:
    """Uncached decoding: the state is the source and the tokens so far; each step reruns the full decoder."""

    def __init__(self, src, mask, tokens):
        self.src, self.mask, self.tokens = src, mask, tokens

    def select(self, rows):
        return _Prefix(self.src[rows], self.mask[rows], self.tokens[rows])


def _uncached(model):
    def encode(src, mask):
        return _Prefix(src, mask, torch.zeros(src.shape[0], 0, dtype=torch.long))

    def step(token, position, st):
        tokens = torch.cat([st.tokens, token], 1)
        return model(st.src, st.mask, tokens)[:, -1], _Prefix(st.src, st.mask, tokens)
    return encode, step


@pytest.mark.parametrize("beam", [1, 3])
def test_cached_and_uncached_decoding_give_identical_tokens(beam):
    model = _nmt()
    src, smask = _batch(B=2, T=9)
    cfg = GenerationConfig(beam=beam, max_len_a=1.0, max_len_b=4, max_target=20)
    cached = generate(*model_calls(model, cfg.max_target), src, smask, cfg)
    uncached = generate(*_uncached(model), src, smask, cfg)
    assert cached == uncached
    assert all(1 <= len(x) <= 13 for x in cached)  # a*9+b = 13 for row 0; row 1 has 4 real tokens: 8


def test_batched_equals_one_at_a_time():
    model = _nmt()
    src, smask = _batch(B=2, T=9)
    cfg = GenerationConfig(beam=2, max_target=24)
    both = generate(*model_calls(model, 24), src, smask, cfg)
    one = [generate(*model_calls(model, 24), src[i:i + 1, : int(smask[i].sum())], smask[i:i + 1, : int(smask[i].sum())],
                    cfg)[0] for i in range(2)]
    assert both == one


class _Toy:
    """A fixed next-token table: greedy takes 'a' (0.6) and then nothing better than 0.4; 'b' (0.4)
    leads to 0.9 — the likelier sequence only beam search finds. Tokens: 0 pad, 1 <s>, 2 </s>, 3 a, 4 b,
    5 c."""

    def __init__(self, prev=None):
        self.prev = prev

    def select(self, rows):
        return _Toy(self.prev[rows] if self.prev is not None else None)


def _toy_calls():
    table = {1: {3: 0.6, 4: 0.4}, 3: {2: 0.3, 5: 0.3, 4: 0.4}, 4: {2: 0.9, 5: 0.1}, 5: {2: 1.0}}

    def encode(src, mask):
        return _Toy(torch.ones(src.shape[0], dtype=torch.long))

    def step(token, position, st):
        logits = torch.full((token.shape[0], 6), -1e9)
        for r, prev in enumerate(token[:, 0].tolist()):
            for tok, p in table.get(prev, {2: 1.0}).items():
                logits[r, tok] = torch.tensor(p).log()
        return logits, _Toy(token[:, 0])
    return encode, step


def test_beam_search_finds_what_greedy_misses():
    src, mask = torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long)
    greedy = generate(*_toy_calls(), src, mask, GenerationConfig(beam=1, max_len_b=5))
    beam = generate(*_toy_calls(), src, mask, GenerationConfig(beam=2, max_len_b=5, length_penalty=0.0))
    assert greedy == [[3, 4, 2]]  # 0.6 * 0.4 * 0.9 = 0.216
    assert beam == [[4, 2]]  # 0.4 * 0.9 = 0.36


def test_min_length_blocks_the_end_in_greedy_and_beam():
    """With min_length 3 neither search may stop at 'b </s>' or 'a b </s>': the floor forces a third token."""
    src, mask = torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long)
    greedy = generate(*_toy_calls(), src, mask, GenerationConfig(beam=1, max_len_b=6, min_length=3))
    beam = generate(*_toy_calls(), src, mask, GenerationConfig(beam=2, max_len_b=6, min_length=3,
                                                               length_penalty=0.0))
    assert greedy == [[3, 4, 5, 2]] and len(beam[0]) >= 4 and beam[0][-1] == 2


@pytest.mark.parametrize("bad", [dict(beam=0), dict(max_target=1), dict(max_len_b=0),
                                 dict(length_penalty=float("nan")), dict(min_length=-1),
                                 dict(min_length=127)])
def test_generation_config_rejects(bad):
    with pytest.raises(LiteformerError):
        GenerationConfig(**bad).validate()


def test_save_and_load_an_encoder_decoder_with_its_subword_vocabulary(tmp_path):
    from liteformer.data.parallel import read_parallel
    from liteformer.data.subword import SubwordTokenizer, train_subword
    from liteformer.models.checkpoint import load_model, save_model
    pairs = read_parallel("multi30k:val")
    tok = train_subword(pairs.sources + pairs.targets, 200)
    model = _nmt(vocab_size=200, positions="sinusoidal", norm_first=True)
    assert save_model(model, tok, tmp_path / "m") == "liteformer"
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded.model, TransformerForSeq2SeqLM) and isinstance(loaded.tokenizer, SubwordTokenizer)
    assert loaded.model.decoder.embeddings.word is loaded.model.encoder.embeddings.word  # still tied
    src, smask = _batch(T=9)
    tgt = torch.randint(5, 100, (2, 4), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(loaded.model(src, smask, tgt), model(src, smask, tgt))


def test_a_student_keeping_teacher_layers():
    from liteformer.compress.distill.student import seq2seq_student_from_teacher
    teacher = _nmt(decoder_num_heads=[4, 2], decoder_ffn_dim=[32, 16], head_dim=8)
    src, smask = _batch(T=9)
    tgt = torch.randint(5, 100, (2, 4), generator=torch.Generator().manual_seed(3))
    same = seq2seq_student_from_teacher(teacher, [0, 1], [0, 1]).eval()
    torch.testing.assert_close(same(src, smask, tgt), teacher(src, smask, tgt))  # all layers kept: the teacher
    small = seq2seq_student_from_teacher(teacher, [1], [1])
    assert small.config.num_layers == 1 and small.config.decoder_num_heads == [2]
    assert torch.equal(small.decoder.layers[0].ffn.up.weight, teacher.decoder.layers[1].ffn.up.weight)
    assert small.decoder.embeddings.word is small.encoder.embeddings.word
    with pytest.raises(LiteformerError, match="decoder layers"):
        seq2seq_student_from_teacher(teacher, [0], [2])
