"""Does the recipe carry over? recipes/classify-auto.yaml, unchanged but for its data paths, on SST-2,
SST-5 (5 classes), CR (3k sentences) and — held out of all tuning, reported last — DialogSum topics
(this project's own set: dialogues labelled with 5 coarse topics from DialogSum's annotated topics).

    python benchmarks/search_transfer.py [--tasks sst2,sst5,cr,topics] [--shared ../shared]
        [--work out/search-transfer] [--max-minutes 240]

For each task the recipe's first step fine-tunes the teacher from all-MiniLM-L6-v2, then the budget
search (``search: auto``) looks for a bundle >= 12x smaller and >= 10x faster than the teacher (PyTorch
fp32, the same bench run) at >= 98 % of its accuracy, within ``--max-minutes`` of search. A task's run
is resumable: call the script again and every finished step and trial is reused. Prints one row per
task: the teacher's test accuracy, the chosen bundle's size/speed ratios and share of the teacher's
accuracy (or the search's own statement of the best trade-off and why the budget is out of reach),
and the search's wall time.

DialogSum topics: each dialogue's annotated topic (``topic`` / ``topic1``) is mapped by keywords to
health, food, travel, shopping or work (the first group that matches, in that order; about 4,000 of
13,460 dialogues match one); the dialogue text (turns joined by spaces) is the input. All three
DialogSum files are pooled and split 80/10/10 by a hash of the dialogue id.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # liteformer from this checkout
TOPICS = [("health", r"doctor|health|hospital|sick|\bill\b|illness|medic|dentist|patient|clinic"),
          ("food", r"food|restaurant|dinner|lunch|breakfast|meal|cook|drink|coffee|menu|\beat\b|\beating\b"),
          ("travel", r"travel|taxi|direction|hotel|check in|flight|trip|airport|\btrain\b|\bbus\b|vacation|holiday|"
                     r"tour|ticket|reservation"),
          ("shopping", r"shop|buy|purchase|store|price|bargain|sale|clothes"),
          ("work", r"job|interview|work|office|business|meeting|career|employ|colleague|salary|company")]


def topic_of(topic: str) -> str | None:
    return next((name for name, pattern in TOPICS if re.search(pattern, topic)), None)


def topics_dataset(shared: Path, out: Path) -> dict[str, str]:
    """DialogSum topics as train/dev/test TSV files under ``out`` (written once)."""
    paths = {s: out / f"{s}.tsv" for s in ("train", "dev", "test")}
    if all(p.exists() for p in paths.values()):
        return {k: str(v) for k, v in paths.items()}
    rows: dict[str, list[str]] = {s: [] for s in paths}
    from liteformer.data.dialogsum import read_rows
    for name in ("train", "dev", "test"):
        for _, _, r in read_rows(shared / "datasets" / "dialogsum" / f"dialogsum.{name}.jsonl"):
            label = topic_of(r.get("topic") or r.get("topic1") or "")
            if label is None:
                continue
            bucket = int(hashlib.sha1(r["fname"].encode()).hexdigest(), 16) % 10
            split = "test" if bucket == 0 else "dev" if bucket == 1 else "train"
            text = " ".join(r["dialogue"].replace("\t", " ").split())
            rows[split].append(f"{text}\t{label}")
    out.mkdir(parents=True, exist_ok=True)
    for s, p in paths.items():
        p.write_text("sentence\tlabel\n" + "\n".join(rows[s]) + "\n", encoding="utf-8")
    print("DialogSum topics: " + ", ".join(f"{s} {len(r)}" for s, r in rows.items()))
    return {k: str(v) for k, v in paths.items()}


def task_data(task: str, shared: Path, work: Path) -> dict[str, str]:
    if task == "topics":
        return topics_dataset(shared, work / "topics-data")
    d = shared / "datasets" / task
    return {s: str(d / f"{s}.tsv") for s in ("train", "dev", "test")}


def recipe_for(task: str, data: dict, minutes: float, path: Path) -> Path:
    """recipes/classify-auto.yaml with only its data paths (and the search's time) changed."""
    text = (ROOT / "recipes" / "classify-auto.yaml").read_text()
    for split, p in data.items():
        text = re.sub(rf"(?m)^  {split}: .*$", f"  {split}: {p}", text)
    text = re.sub(r"(?m)^name: .*$", f"name: {task}-auto", text)
    text = re.sub(r"max_minutes: [0-9.]+", f"max_minutes: {minutes:g}", text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def summary(task: str, work: Path) -> str:
    res = json.loads((work / "recipe-result.json").read_text())
    meta = json.loads((work / "search-meta.json").read_text())
    bench = json.loads((work / "report" / "bench.json").read_text())
    teacher = next(c for c in bench["candidates"] if c["name"] == "teacher")
    minutes = meta.get("seconds", 0) / 60
    c = res.get("chosen")
    if c:
        return (f"| {task} | {teacher['quality']:.4f} | {c['name']} | {c['quality']:.4f} | {c['pct_quality']:.1f} | "
                f"{c['x_smaller']:.1f} | {c['x_faster']:.1f} | {minutes:.0f} | met |")
    nxt = " ".join(json.loads((work / "report" / "search.json").read_text()).get("next", []))
    return f"| {task} | {teacher['quality']:.4f} | none | | | | | {minutes:.0f} | {res['reason']} {nxt} |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="sst2,sst5,cr,topics", help="comma-separated, in order (topics last: held out)")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared data folder")
    ap.add_argument("--work", default="out/search-transfer", help="one recipe work folder per task under it")
    ap.add_argument("--max-minutes", type=float, default=240, help="the search's wall time per task (default 240)")
    a = ap.parse_args()
    shared, work = Path(a.shared), Path(a.work)
    rows = []
    for task in a.tasks.split(","):
        w = work / task
        recipe = recipe_for(task, task_data(task, shared, work), a.max_minutes, w / "recipe.yaml")
        r = subprocess.run([sys.executable, "-m", "liteformer", "run", str(recipe), "--work", str(w)], cwd=ROOT)
        if not (w / "recipe-result.json").exists():
            print(f"{task}: the run failed (exit {r.returncode}); see its output above")
            continue
        rows.append(summary(task, w))
    print("| task | teacher test acc | chosen | acc | % teacher | x smaller | x faster | search min | budget |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
