"""Start a narrower student from the teacher's weights instead of random ones.

A student built from a config has no pretraining; its word embeddings are the part that takes the
longest to learn from a task's few thousand sentences. Here its tables (word, position, token type)
are the teacher's projected onto their top principal directions: with P the E_t × E_s matrix of the
first E_s right-singular vectors of the teacher's centred word table, student row = teacher row · P.
Tokens of a student vocabulary that the teacher lacks keep their random rows. Everything above the
embeddings (attention, FFN, LayerNorms) stays random: this is the only weight the student inherits.

``init_from_teacher_`` goes further (Minitron-style width and depth pruning into a config's shape):
every weight of the student is a slice of the teacher's — its layers from spread teacher layers, its
residual channels, heads and FFN neurons the teacher's most important ones on the training texts.
"""

from __future__ import annotations

import torch
from torch import nn

from liteformer.errors import LiteformerError
from liteformer.models.light import light_blocks
from liteformer.models.transformer import TransformerConfig


def _shared_rows(student_vocab: dict[str, int], teacher_vocab: dict[str, int],
                 rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(student ids, teacher ids) of the tokens both vocabularies hold: the rows a student inherits."""
    pairs = [(i, teacher_vocab[tok]) for tok, i in student_vocab.items() if tok in teacher_vocab and i < rows]
    return torch.tensor([p[0] for p in pairs], dtype=torch.long), torch.tensor([p[1] for p in pairs], dtype=torch.long)


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
    si, ti = _shared_rows(student_vocab, teacher_vocab, s.word.num_embeddings)
    s.word.weight[si] = (table[ti] @ P).to(s.word.weight.dtype)  # (n, E_s)
    n_pos = min(s.position.num_embeddings, t.position.num_embeddings)
    s.position.weight[:n_pos] = (t.position.weight[:n_pos].float() @ P).to(s.position.weight.dtype)
    if s.token_type is not None and t.token_type is not None:
        n_tt = min(s.token_type.num_embeddings, t.token_type.num_embeddings)
        s.token_type.weight[:n_tt] = (t.token_type.weight[:n_tt].float() @ P).to(s.token_type.weight.dtype)
    energy = float((sv[:e_s] ** 2).sum() / (sv ** 2).sum())
    return {"tokens_copied": len(si), "student_vocab": s.word.num_embeddings, "width": [e_t, e_s],
            "variance_kept": round(energy, 4)}


def spread_layers(student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher layers a shallower student starts from, evenly spread from the first: 3 of 6 → 0, 2, 4
    (DistilBERT's every other layer), 4 of 6 → 0, 2, 3, 4."""
    return [round(i * teacher_layers / student_layers) for i in range(student_layers)]


# light blocks a teacher's plain layer maps onto (the rest start fresh in a way that leaves the cut
# network's function first): LSRA's attention half, a silent convolution module, an identity depthwise
# convolution in an inverted FFN
CUTTABLE = ("LSRA convolution branches", "convolution modules", "inverted-residual FFNs",
            "causal convolution branches")


def _check_fits(s: TransformerConfig, t: TransformerConfig) -> None:
    """Refuse a student whose shape cannot be cut out of the teacher's weights, naming the field."""
    uncut = [b for b in light_blocks(s) if b not in CUTTABLE]  # light blocks a plain layer maps onto
    if uncut or light_blocks(t):
        which, blocks = ("student", uncut) if uncut else ("teacher", light_blocks(t))
        raise LiteformerError(f"teacher init cuts a plain teacher's layers into plain or LSRA / convolution-module "
                              f"/ inverted-FFN layers; this {which} has {', '.join(blocks)}: start it from its own "
                              "init (distillation still transfers the teacher)")
    for name in ("activation", "norm_first", "pooler", "head_dim"):
        if getattr(s, name) != getattr(t, name):
            raise LiteformerError(f"teacher init needs the teacher's {name} ({getattr(t, name)!r}); the student "
                                  f"config has {getattr(s, name)!r}")
    if s.embedding_dim or t.embedding_dim or s.low_rank or t.low_rank:
        raise LiteformerError("teacher init needs plain (not factorized) models")
    for name in ("num_layers", "hidden_size", "max_positions", "type_vocab_size"):
        if getattr(s, name) > getattr(t, name):
            raise LiteformerError(f"teacher init cuts the teacher down: the student's {name} {getattr(s, name)} "
                                  f"is larger than the teacher's {getattr(t, name)}")
    if s.type_vocab_size == 0 and t.type_vocab_size:
        raise LiteformerError("teacher init: the teacher has token-type embeddings, the student config none")


@torch.no_grad()
def _channels_and_predictions(teacher: nn.Module, ids: list[list[int]], pad_id: int,
                              batch: int = 64) -> tuple[torch.Tensor, list[int]]:
    """((H_t,) mean |activation| of each residual channel over real tokens, summed over the embedding
    output and every layer's output — Minitron's channel importance —, the teacher's predictions)."""
    from liteformer.data.batching import pad_batch
    total, tokens, preds = 0, 0, []
    for k in range(0, len(ids), batch):
        x, m = pad_batch(ids[k : k + batch], pad_id)  # (b, T)
        logits, out = teacher(x, m, output_hidden_states=True)
        real = m.bool()
        total = total + sum(h[real].abs().sum(0) for h in out.hidden_states)  # (H_t,)
        tokens += int(real.sum())
        preds += logits.argmax(-1).tolist()
    return total / tokens, preds


@torch.no_grad()
def init_from_teacher_(student: nn.Module, teacher: nn.Module, student_vocab: dict[str, int],
                       teacher_vocab: dict[str, int], ids: list[list[int]], pad_id: int,
                       layers: list[int] | None = None, progress: bool = False) -> dict:
    """Overwrite every weight of a narrower, shallower ``student`` with a slice of the teacher's.

    Student layer i starts as teacher layer ``layers[i]`` (default ``spread_layers``). The kept
    residual channels, heads and FFN neurons are the teacher's most important on ``ids`` (a sample of
    the training texts in the teacher's tokens): channels by mean |activation|, heads and neurons by
    Fisher importance (see ``importance``) with the teacher's own predictions as labels, so no
    labels are needed. LayerNorms keep their kept channels' scale and shift; the statistics they
    normalize by then come from fewer channels, which distillation corrects. Returns what was kept.
    """
    from liteformer.compress.prune.importance import unit_importance

    s_cfg, t_cfg = student.config, teacher.config
    _check_fits(s_cfg, t_cfg)
    layers = layers or spread_layers(s_cfg.num_layers, t_cfg.num_layers)
    if len(layers) != s_cfg.num_layers or any(not 0 <= j < t_cfg.num_layers for j in layers):
        raise LiteformerError(f"teacher init: layers {layers} must be {s_cfg.num_layers} teacher layers "
                              f"of 0..{t_cfg.num_layers - 1}")
    for i, j in enumerate(layers):
        if s_cfg.num_heads[i] > t_cfg.num_heads[j] or s_cfg.ffn_dim[i] > t_cfg.ffn_dim[j]:
            raise LiteformerError(f"teacher init: student layer {i} ({s_cfg.num_heads[i]} heads, FFN "
                                  f"{s_cfg.ffn_dim[i]}) is wider than teacher layer {j} ({t_cfg.num_heads[j]} "
                                  f"heads, FFN {t_cfg.ffn_dim[j]})")
    if not ids:
        raise LiteformerError("teacher init needs texts to score the teacher's channels on")
    was_training = teacher.training
    teacher.eval()
    channel_scores, preds = _channels_and_predictions(teacher, ids, pad_id)
    teacher.train(was_training)
    with torch.enable_grad():  # Fisher scores need the gradients this function otherwise turns off
        imp = unit_importance(teacher, ids, preds, pad_id, layers=False, progress=progress)

    ch = _top(channel_scores, s_cfg.hidden_size)  # (H_s,) kept residual channels
    se, te = student.encoder.embeddings, teacher.encoder.embeddings
    si, ti = _shared_rows(student_vocab, teacher_vocab, se.word.num_embeddings)
    se.word.weight[si] = te.word.weight[ti][:, ch]
    _copy_embeddings(se, te, ch, s_cfg)
    heads, neurons = [], []
    for i, j in enumerate(layers):
        sb, tb = student.encoder.layers[i], teacher.encoder.layers[j]
        h = _top(imp.heads[j], s_cfg.num_heads[i])  # (n_s,) kept heads
        f = _top(imp.neurons[j], s_cfg.ffn_dim[i])  # (F_s,) kept neurons
        _copy_block(sb, tb, ch, h, f, t_cfg.head_dim)
        heads.append(h.tolist())
        neurons.append(len(f))
    if s_cfg.norm_first:
        _norm(student.encoder.final_norm, teacher.encoder.final_norm, ch)
    if student.pooler is not None:
        _lin(student.pooler, teacher.pooler, ch, ch)
    if student.classifier.out_features == teacher.classifier.out_features:
        _lin(student.classifier, teacher.classifier, None, ch)
    return {"layers": layers, "hidden_channels": ch.tolist(), "heads": heads, "ffn": neurons,
            "tokens_copied": len(si), "texts_scored": len(ids),
            "width": [t_cfg.hidden_size, s_cfg.hidden_size]}


@torch.no_grad()
def init_seq2seq_from_teacher_(student: nn.Module, teacher: nn.Module, pairs: list[tuple[list[int], list[int]]],
                               pad_id: int, bos_id: int, progress: bool = False) -> dict:
    """``init_from_teacher_`` for an encoder-decoder of the teacher's vocabulary: encoder and decoder
    layers spread over the teacher's, the residual channels (one set: the word table is shared by
    both stacks and the output) by mean |activation| over every encoder and decoder layer's output,
    and encoder heads, decoder self- and cross-attention heads and FFN neurons by Fisher importance
    on ``pairs`` (source ids, target ids ending in ``</s>``) with the teacher-forced loss."""
    from liteformer.compress.prune.importance import seq2seq_importance

    s_cfg, t_cfg = student.config, teacher.config
    _check_fits(s_cfg, t_cfg)
    if s_cfg.vocab_size != t_cfg.vocab_size:
        raise LiteformerError("teacher init of a translation student needs the teacher's vocabulary")
    if not 0 < s_cfg.num_decoder_layers <= t_cfg.num_decoder_layers:
        raise LiteformerError(f"teacher init cuts the teacher down: the student's {s_cfg.num_decoder_layers} "
                              f"decoder layers are not 1..{t_cfg.num_decoder_layers}")
    enc = spread_layers(s_cfg.num_layers, t_cfg.num_layers)
    dec = spread_layers(s_cfg.num_decoder_layers, t_cfg.num_decoder_layers)
    widths = [("encoder", i, j, s_cfg.num_heads[i], t_cfg.num_heads[j], s_cfg.ffn_dim[i], t_cfg.ffn_dim[j])
              for i, j in enumerate(enc)]
    widths += [("decoder", i, j, max(s_cfg.decoder_num_heads[i], s_cfg.decoder_cross_heads[i]),
                min(t_cfg.decoder_num_heads[j], t_cfg.decoder_cross_heads[j]), s_cfg.decoder_ffn_dim[i],
                t_cfg.decoder_ffn_dim[j]) for i, j in enumerate(dec)]
    for stack, i, j, sh, th, sf, tf in widths:
        if sh > th or sf > tf:
            raise LiteformerError(f"teacher init: student {stack} layer {i} ({sh} heads, FFN {sf}) is wider than "
                                  f"teacher {stack} layer {j} ({th} heads, FFN {tf})")
    if not pairs:
        raise LiteformerError("teacher init needs sentence pairs to score the teacher's channels on")
    was_training = teacher.training
    teacher.eval()
    channel_scores = _seq2seq_channels(teacher, pairs, pad_id, bos_id)
    with torch.enable_grad():  # Fisher scores need the gradients this function otherwise turns off
        imp = seq2seq_importance(teacher, pairs, pad_id, bos_id, progress=progress)
    teacher.train(was_training)
    ch = _top(channel_scores, s_cfg.hidden_size)  # (H_s,) kept residual channels
    student.encoder.embeddings.word.weight.copy_(teacher.encoder.embeddings.word.weight[:, ch])  # shared table
    kept: dict[str, list] = {"encoder_heads": [], "decoder_heads": [], "cross_heads": []}
    for stack, layers in (("encoder", enc), ("decoder", dec)):
        s_stack, t_stack = getattr(student, stack), getattr(teacher, stack)
        _copy_embeddings(s_stack.embeddings, t_stack.embeddings, ch, s_cfg)
        for i, j in enumerate(layers):
            sb, tb = s_stack.layers[i], t_stack.layers[j]
            if stack == "encoder":
                h, f = _top(imp.heads[j], sb.attn.n_heads), _top(imp.neurons[j], sb.ffn.width)
            else:
                h, f = _top(imp.decoder_heads[j], sb.attn.n_heads), _top(imp.decoder_neurons[j], sb.ffn.width)
                c = _top(imp.cross_heads[j], sb.cross.n_heads)
                _copy_attention(sb.cross, tb.cross, ch, c, t_cfg.head_dim)
                _norm(sb.cross_norm, tb.cross_norm, ch)
                kept["cross_heads"].append(c.tolist())
            _copy_block(sb, tb, ch, h, f, t_cfg.head_dim)
            kept[f"{stack}_heads"].append(h.tolist())
        if s_cfg.norm_first:
            _norm(s_stack.final_norm, t_stack.final_norm, ch)
    return {"encoder_layers": enc, "decoder_layers": dec, "hidden_channels": ch.tolist(), **kept,
            "pairs_scored": len(pairs), "width": [t_cfg.hidden_size, s_cfg.hidden_size]}


@torch.no_grad()
def _seq2seq_channels(teacher: nn.Module, pairs, pad_id: int, bos_id: int, batch: int = 32) -> torch.Tensor:
    """(H_t,) mean |activation| of each residual channel over real tokens of every encoder and decoder
    layer's output and both embedding outputs."""
    from liteformer.data.batching import teacher_forcing
    total, tokens, masks = 0, 0, {}

    def hook(which: str):
        def fn(module, args, out):
            nonlocal total
            x = out[0] if isinstance(out, tuple) else out  # (B, T, H)
            total = total + x[masks[which].bool()].abs().sum(0)
        return fn

    handles = [m.register_forward_hook(hook(stack)) for stack in ("encoder", "decoder")
               for m in (getattr(teacher, stack).embeddings, *getattr(teacher, stack).layers)]
    try:
        for k in range(0, len(pairs), batch):
            rows = pairs[k : k + batch]
            src, masks["encoder"], dec, masks["decoder"], _ = teacher_forcing([r[0] for r in rows],
                                                                              [r[1] for r in rows], pad_id, bos_id)
            teacher(src, masks["encoder"], dec, masks["decoder"])
            n_layers = 1 + len(teacher.encoder.layers), 1 + len(teacher.decoder.layers)
            tokens += int(masks["encoder"].sum()) * n_layers[0] + int(masks["decoder"].sum()) * n_layers[1]
    finally:
        for h in handles:
            h.remove()
    return total / tokens


def _top(scores: torch.Tensor, n: int) -> torch.Tensor:
    """The ``n`` best units, in their original order."""
    return scores.topk(n).indices.sort().values


def _lin(dst: nn.Linear, src: nn.Linear, rows: torch.Tensor | None, cols: torch.Tensor | None) -> None:
    w = src.weight if rows is None else src.weight[rows]
    dst.weight.copy_(w if cols is None else w[:, cols])
    if dst.bias is not None:
        dst.bias.copy_(src.bias if rows is None else src.bias[rows])


def _norm(dst: nn.LayerNorm, src: nn.LayerNorm, ch: torch.Tensor) -> None:
    dst.weight.copy_(src.weight[ch])
    dst.bias.copy_(src.bias[ch])


def _copy_embeddings(se: nn.Module, te: nn.Module, ch: torch.Tensor, s_cfg: TransformerConfig) -> None:
    """Position and token-type tables and the embedding LayerNorm (the word table is copied by the caller)."""
    if se.position is not None and te.position is not None:
        se.position.weight.copy_(te.position.weight[: s_cfg.max_positions, ch])
    if se.token_type is not None:
        se.token_type.weight.copy_(te.token_type.weight[: s_cfg.type_vocab_size, ch])
    _norm(se.norm, te.norm, ch)


def _copy_attention(sa: nn.Module, ta: nn.Module, ch: torch.Tensor, heads: torch.Tensor, d: int) -> None:
    rows = (heads[:, None] * d + torch.arange(d)).flatten()  # (n_s·d,) the kept heads' q/k/v rows
    for name in ("q", "k", "v"):
        _lin(getattr(sa, name), getattr(ta, name), rows, ch)
    _lin(sa.out, ta.out, ch, rows)


def _copy_block(sb: nn.Module, tb: nn.Module, ch: torch.Tensor, heads: torch.Tensor, neurons: torch.Tensor,
                d: int) -> None:
    """Self-attention (kept ``heads``), FFN (kept ``neurons``) and their LayerNorms of one layer. Light
    blocks: LSRA's attention reads and writes the first ``split`` of the kept channels (the teacher's
    heads restricted to them) and its convolution branch starts silent (a zero output projection), as
    does a convolution module; an inverted FFN's depthwise convolution starts as the identity (its
    second activation then repeats the first: exact for ReLU)."""
    _copy_attention(sb.attn, tb.attn, ch[: sb.split], heads, d)
    _lin(sb.ffn.up, tb.ffn.up, neurons, ch)
    _lin(sb.ffn.down, tb.ffn.down, ch, neurons)
    _norm(sb.attn_norm, tb.attn_norm, ch)
    _norm(sb.ffn_norm, tb.ffn_norm, ch)
    for silent in (sb.local, sb.conv):
        if silent is not None:
            silent.out.weight.zero_()
            silent.out.bias.zero_()
    if sb.conv is not None:
        _norm(sb.conv_norm, tb.ffn_norm, ch)  # a norm of the same residual stream
    conv = getattr(sb.ffn, "conv", None)
    if conv is not None:  # identity taps: weight (F, 1, k) one at the centre
        conv.conv.weight.zero_()[:, 0, conv.kernel // 2] = 1.0
        conv.conv.bias.zero_()
