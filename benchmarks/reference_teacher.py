"""Reference check: the SST-2 teacher through liteformer's own model and through transformers.

    python benchmarks/reference_teacher.py [--teacher ../shared/models/minilm-l6-sst2]
                                           [--data ../shared/datasets/sst2/test.tsv]

Prints both accuracies (expected 0.8945 = 780/872) and the largest logit difference between the
two paths over the whole split; exits 1 if either accuracy differs from --expect or the logits
differ by more than 1e-4.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from liteformer.data.batching import length_sorted_batches, pad_batch  # noqa: E402
from liteformer.data.text import encode_labels, read_classification  # noqa: E402
from liteformer.models.checkpoint import load_model  # noqa: E402
from liteformer.tasks.classification import predict  # noqa: E402

SHARED = HERE.parent.parent / "shared"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default=str(SHARED / "models/minilm-l6-sst2"))
    ap.add_argument("--data", default=str(SHARED / "datasets/sst2/test.tsv"))
    ap.add_argument("--expect", type=float, default=0.8945)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    data = read_classification(a.data)
    t = time.perf_counter()
    lm = load_model(a.teacher)
    y = torch.tensor(encode_labels(data, lm.label2id))
    ours, _ = predict(lm.model, lm.tokenizer, data.texts, progress=False)
    t_ours = time.perf_counter() - t

    t = time.perf_counter()
    ref = AutoModelForSequenceClassification.from_pretrained(a.teacher).eval()
    hf_tok = AutoTokenizer.from_pretrained(a.teacher)
    ids = hf_tok(data.texts, truncation=True, max_length=128)["input_ids"]
    theirs = torch.empty_like(ours)
    with torch.inference_mode():
        for idx in length_sorted_batches([len(x) for x in ids], 64):
            x, m = pad_batch([ids[i] for i in idx], hf_tok.pad_token_id)
            theirs[idx] = ref(input_ids=x, attention_mask=m).logits
    t_hf = time.perf_counter() - t

    acc_ours = (ours.argmax(-1) == y).float().mean().item()
    acc_hf = (theirs.argmax(-1) == y).float().mean().item()
    diff = (ours - theirs).abs().max().item()
    print(f"{'path':<24}{'accuracy':>10}{'correct':>10}{'seconds':>10}")
    print(f"{'liteformer (own model)':<24}{acc_ours:>10.4f}{int(acc_ours * len(y) + .5):>10}{t_ours:>10.1f}")
    print(f"{'transformers':<24}{acc_hf:>10.4f}{int(acc_hf * len(y) + .5):>10}{t_hf:>10.1f}")
    print(f"max |logit difference| over {len(y)} examples: {diff:.2e}")
    ok = round(acc_ours, 4) == a.expect and round(acc_hf, 4) == a.expect and diff <= 1e-4
    print("OK" if ok else f"MISMATCH: expected {a.expect} on both paths and logits within 1e-4")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
