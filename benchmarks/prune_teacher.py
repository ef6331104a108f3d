"""Structured pruning, vocabulary pruning and low-rank factorization of the reference teacher.

    python benchmarks/prune_teacher.py [--teacher ../shared/models/minilm-l6-sst2]
        [--train ../shared/datasets/sst2/train.tsv] [--dev ../shared/datasets/sst2/dev.tsv]
        [--test ../shared/datasets/sst2/test.tsv] [--train-n 0] [--epochs 1] [--work out/prune-teacher]

(a) structured pruning to half the FLOPs (heads + FFN neurons by Fisher importance, FLOPs at the
test set's mean length), then recovery by distillation from the unpruned teacher; (b) vocabulary
pruning on the training texts; (c) low-rank factorization keeping half of the Linear parameters,
then the same recovery. All are measured with `liteformer bench` against the teacher in one
interleaved run (batch 1, 2 threads), in PyTorch and as ONNX Runtime exports. Issue 6 targets:
(a) latency speedup >= 0.8 x the FLOPs reduction, accuracy after recovery >= 0.885; (b) the
embedding's size before/after with unchanged predictions; (c) accuracy after recovery and the
real speedup. --train-n N recovers on a random N-sentence sample (a reduced run; say so).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from samples import add_teacher_and_splits, sample_split

HERE = Path(__file__).resolve().parent


def cli(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "liteformer", *args], cwd=HERE.parent, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"liteformer {args[0]} failed: {r.stderr.strip().splitlines()[-1:]}")
    print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else f"{args[0]} done", flush=True)
    return r.stdout


def accuracy(model: Path, test: str) -> float:
    cli("eval", "--model", str(model), "--data", test, "--out", str(model / "test.json"))
    return json.loads((model / "test.json").read_text())["accuracy"]


def predictions(model: str, test: str) -> list[int]:
    sys.path.insert(0, str(HERE.parent))
    import torch

    from liteformer.data.batching import pad_batch
    from liteformer.data.text import read_classification
    from liteformer.models.checkpoint import load_model
    lm, ds = load_model(model), read_classification(test)
    out = []
    with torch.inference_mode():
        for ids in lm.tokenizer.encode(ds.texts, 128).ids:
            x, m = pad_batch([ids], lm.tokenizer.pad_id)
            out.append(int(lm.model(x, m).argmax(-1)))
    return out


def mean_length(model: str, test: str) -> int:
    sys.path.insert(0, str(HERE.parent))
    from liteformer.data.text import read_classification
    from liteformer.models.checkpoint import load_model
    ids = load_model(model).tokenizer.encode(read_classification(test).texts, 128).ids
    return round(sum(map(len, ids)) / len(ids))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_teacher_and_splits(ap)
    ap.add_argument("--train-n", type=int, default=0, help="random sample of the training set for recovery")
    ap.add_argument("--dev-n", type=int, default=1000)
    ap.add_argument("--epochs", default="1", help="recovery epochs")
    ap.add_argument("--flops", default="0.5", help="structured target: kept share of FLOPs")
    ap.add_argument("--ratio", default="0.5", help="low-rank target: kept share of the Linear parameters")
    ap.add_argument("--reps", default="3")
    ap.add_argument("--work", default="out/prune-teacher")
    a = ap.parse_args()
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    train = sample_split(a.train, a.train_n, work / "train.tsv")
    dev = sample_split(a.dev, a.dev_n, work / "dev.tsv")
    T = mean_length(a.teacher, a.test)
    recover = ["--train", train, "--dev", dev, "--epochs", a.epochs, "--lr", "5e-5", "--batch-size", "32",
               "--alpha", "0.5", "--temperature", "2", "--threads", "2", "--eval-every", "500"]
    res: dict[str, dict] = {"teacher": {"acc": accuracy(Path(a.teacher), a.test)}}

    # (a) structured: half the FLOPs at the mean test length, then recovery
    cli("prune", a.teacher, "--method", "structured", "--target-flops", a.flops, "--length", str(T),
        "--data", a.train, "--out", str(work / "a-pruned"))
    cli("distill", "--teacher", a.teacher, "--student", str(work / "a-pruned"), "--out", str(work / "a-recovered"),
        *recover)
    # (b) vocabulary
    cli("prune", a.teacher, "--method", "vocab", "--data", a.train, "--out", str(work / "b-vocab"))
    # (c) low-rank: half of the Linear parameters, then recovery
    cli("factorize", a.teacher, "--ratio", a.ratio, "--out", str(work / "c-lowrank"))
    cli("distill", "--teacher", a.teacher, "--student", str(work / "c-lowrank"), "--out", str(work / "c-recovered"),
        *recover)
    for key in ("a-pruned", "a-recovered", "b-vocab", "c-lowrank", "c-recovered"):
        res[key] = {"acc": accuracy(work / key, a.test)}
    teacher_pred = predictions(a.teacher, a.test)
    vocab_pred = predictions(str(work / "b-vocab"), a.test)
    res["b-vocab"]["agree"] = sum(x == y for x, y in zip(teacher_pred, vocab_pred, strict=True)) / len(teacher_pred)
    res["b-vocab"]["report"] = json.loads((work / "b-vocab" / "compress.json").read_text())

    cands = [f"teacher={a.teacher}", f"structured={work / 'a-recovered'}", f"vocab={work / 'b-vocab'}",
             f"lowrank={work / 'c-recovered'}"]
    for name, path in (("teacher", a.teacher), ("structured", work / "a-recovered"), ("lowrank", work / "c-recovered")):
        cli("export", str(path), "--to", "onnx", "--out", str(work / f"{name}-onnx"))
        cands.append(f"{name}-onnx={work / f'{name}-onnx'}")
    subprocess.run([sys.executable, "-m", "liteformer", "bench", *cands, "--data", a.test, "--reps", a.reps,
                    "--out", str(work / "report")], cwd=HERE.parent, check=True)
    (work / "results.json").write_text(json.dumps(res, indent=2))
    return table(work, res, T, a)


def table(work: Path, res: dict, T: int, a) -> int:
    bench = {c["name"]: c for c in json.loads((work / "report" / "bench.json").read_text())["candidates"] if c["ok"]}
    t, to = bench["teacher"], bench["teacher-onnx"]
    print(f"\nrecovery: {'all' if not a.train_n else a.train_n} training sentences, {a.epochs} epoch(s); "
          f"FLOPs at the mean test length {T} tokens")
    print("| model | GMACs | params M | accuracy before recovery | after recovery | torch p50 ms | torch × faster "
          "| ORT p50 ms | ORT × faster | FLOPs × fewer |")
    print("|" + "---|" * 10)
    rows = [("teacher", "teacher", None), ("(a) structured, half FLOPs", "structured", "a-pruned"),
            ("(b) vocabulary", "vocab", None), ("(c) low-rank, half Linear params", "lowrank", "c-lowrank")]
    for label, key, before in rows:
        c = bench[key]
        o = bench.get(f"{key}-onnx")
        acc_after = {"teacher": res["teacher"]["acc"], "structured": res["a-recovered"]["acc"],
                     "vocab": res["b-vocab"]["acc"], "lowrank": res["c-recovered"]["acc"]}[key]
        acc_before = f"{res[before]['acc']:.4f}" if before else "–"
        ort = f"{o['latency_p50_ms']:.2f} | {to['latency_p50_ms'] / o['latency_p50_ms']:.2f}" if o else "– | –"
        print(f"| {label} | {c['macs_mean_length'] / 1e9:.3f} | {c['parameters'] / 1e6:.2f} | {acc_before} | "
              f"{acc_after:.4f} | {c['latency_p50_ms']:.2f} | {t['latency_p50_ms'] / c['latency_p50_ms']:.2f} | {ort} "
              f"| {t['macs_mean_length'] / c['macs_mean_length']:.2f} |")
    s = bench["structured"]
    flops_x, speed_x = t["macs_mean_length"] / s["macs_mean_length"], t["latency_p50_ms"] / s["latency_p50_ms"]
    acc = res["a-recovered"]["acc"]
    print(f"(a) speedup / FLOPs reduction = {speed_x / flops_x:.2f} (target >= 0.8: "
          f"{'MET' if speed_x >= 0.8 * flops_x else 'MISSED'}); accuracy after recovery "
          f"{acc:.4f} (target >= 0.885: {'MET' if acc >= 0.885 else 'MISSED'})")
    v = res["b-vocab"]["report"]
    print(f"(b) vocabulary {v['vocab_before']} -> {v['vocab_after']} ids ({v['used_by_data']} used by train); "
          f"embedding {v['embedding_bytes_before'] / 2**20:.1f} -> {v['embedding_bytes_after'] / 2**20:.1f} MiB fp32; "
          f"test predictions unchanged on {res['b-vocab']['agree']:.2%}; accuracy {res['teacher']['acc']:.4f} -> "
          f"{res['b-vocab']['acc']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
