"""Translation in PyTorch: the loss against torch's reference, the metrics against sacrebleu, and a
tiny encoder-decoder that learns a handful of pairs and translates them back through generation."""

import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from liteformer.data.parallel import read_parallel
from liteformer.data.subword import train_subword
from liteformer.errors import LiteformerError
from liteformer.models.generation import GenerationConfig
from liteformer.models.seq2seq import TransformerForSeq2SeqLM
from liteformer.models.transformer import TransformerConfig
from liteformer.tasks.translation import evaluate, label_smoothed_loss, score, sequence_loss, teacher_forcing


def test_label_smoothed_loss_matches_torch():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11)
    target = torch.randint(1, 11, (3, 5))
    target[2, 3:] = 0  # padding
    ours = label_smoothed_loss(logits, target, pad_id=0, epsilon=0.1).sum()
    ref = F.cross_entropy(logits.view(-1, 11), target.view(-1), ignore_index=0, label_smoothing=0.1,
                          reduction="sum")
    torch.testing.assert_close(ours, ref)


def test_metrics_are_sacrebleus():
    hyps = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    refs = ["Ein Mann fährt ein Fahrrad.", "Zwei Hunde spielen im Schnee."]
    r = score(hyps, refs)
    assert r.bleu == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert r.chrf == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert r.bleu_tok_lc >= r.bleu - 1e-9 and "13a" in r.signature and r.sentences == 2
    with pytest.raises(LiteformerError, match="2 hypotheses for 1 references"):
        score(hyps, refs[:1])


def test_a_tiny_model_learns_pairs_and_translates_them_back():
    pairs = read_parallel("multi30k:val")
    src, tgt = pairs.sources[:8], pairs.targets[:8]
    tok = train_subword(pairs.sources + pairs.targets, 300)
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, hidden_size=64, num_layers=2, num_heads=4, ffn_dim=128,
                            num_decoder_layers=2, max_positions=64, type_vocab_size=0, pooler="none",
                            norm_first=True, positions="sinusoidal", dropout=0.0, attention_dropout=0.0)
    model = TransformerForSeq2SeqLM(cfg)
    batch = teacher_forcing(tok.encode(src, 64).ids, tok.encode(tgt, 64).ids, tok.pad_id, tok.bos_id)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = sequence_loss(model, *batch, pad_id=tok.pad_id, epsilon=0.0).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    report = evaluate(model, tok, pairs.__class__(src, tgt, "memorized"), GenerationConfig(beam=2, max_target=48))
    assert report.bleu > 90, (report.bleu, report.hypotheses[:2])


def test_token_kd_is_the_kl_of_the_teachers_distribution():
    from liteformer.tasks.translation import token_kd
    torch.manual_seed(0)
    s, t = torch.randn(2, 4, 9), torch.randn(2, 4, 9)
    target = torch.tensor([[3, 4, 2, 0], [5, 6, 7, 2]])
    ours = token_kd(s, t, target, pad_id=0, temperature=2.0).sum()
    kl = F.kl_div((s / 2).log_softmax(-1), (t / 2).log_softmax(-1), log_target=True, reduction="none").sum(-1)
    torch.testing.assert_close(ours, 4 * (kl * (target != 0)).sum())
    assert token_kd(t, t, target, 0).abs().max() < 1e-6  # a student equal to its teacher pays nothing
