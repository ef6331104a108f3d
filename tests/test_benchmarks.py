"""Every benchmark script (real-size runs, not run here) at least parses its command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if p.name not in ("samples.py", "slices.py"))  # helpers


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_help(script):
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and "usage:" in r.stdout, r.stderr[-500:]


def test_transfer_texts_reads_both_sources(tmp_path):
    """DialogSum turns and summaries (JSON or dict-literal lines) and Multi30k captions, deduplicated."""
    import gzip
    d = tmp_path / "datasets"
    (d / "dialogsum").mkdir(parents=True)
    (d / "multi30k").mkdir()
    (d / "dialogsum" / "dialogsum.train.jsonl").write_text(
        '{"dialogue": "#Person1#: How was the film?\\n#Person2#: Dull, I left early.", "summary": "They talk films."}\n'
        "{'dialogue': '#Person1#: Ok.\\n#Person2#: how was the film?', 'summary': 'A short one here.'}\n")
    with gzip.open(d / "multi30k" / "train.en.gz", "wt") as f:
        f.write("A dog runs outside.\nA dog runs outside.\n")
    out = tmp_path / "t.txt"
    r = subprocess.run([sys.executable, "benchmarks/transfer_texts.py", "--shared", str(tmp_path), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr[-500:]
    assert out.read_text().splitlines() == ["How was the film?", "Dull, I left early.", "They talk films.",
                                            "A short one here.", "A dog runs outside."]


def test_the_pretraining_text_keeps_dialogues_whole(tmp_path):
    """benchmarks/dialogsum_teacher.py's pre-training text: dialogues with their line breaks, summaries,
    Multi30k English, SST-2 sentences, as {"text": ...} JSON lines that denoise: reads."""
    import gzip
    import json
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from dialogsum_teacher import pretraining_text

    from liteformer.data.denoise import read_denoising
    d = tmp_path / "datasets"
    for sub in ("dialogsum", "multi30k", "sst2"):
        (d / sub).mkdir(parents=True)
    (d / "dialogsum" / "dialogsum.train.jsonl").write_text(
        "{'fname': 'a', 'dialogue': '#Person1#: Hi.\\n#Person2#: Hello there.', 'summary': 'They greet.'}\n")
    with gzip.open(d / "multi30k" / "train.en.gz", "wt") as f:
        f.write("A dog runs outside.\n")
    (d / "sst2" / "train.tsv").write_text("sentence\tlabel\na fine film \t1\n")
    out = pretraining_text(tmp_path, tmp_path / "w" / "text.jsonl")
    texts = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert texts == ["#Person1#: Hi.\n#Person2#: Hello there.", "They greet.", "A dog runs outside.", "a fine film"]
    assert read_denoising(f"denoise:{out}").targets == texts


def test_search_transfer_builds_the_topics_set_and_changes_only_the_data(tmp_path):
    """benchmarks/search_transfer.py: DialogSum topics mapped to 5 groups and split by dialogue id; the
    recipe it runs is classify-auto.yaml with its data paths (and the search's time) replaced."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from search_transfer import recipe_for, topic_of, topics_dataset

    from liteformer.recipe.schema import load_recipe
    assert [topic_of(t) for t in ("see a doctor", "order food", "job interview", "weather")] == [
        "health", "food", "work", None]
    d = tmp_path / "datasets" / "dialogsum"
    d.mkdir(parents=True)
    rows = [{"fname": f"d{i}", "dialogue": f"#Person1#: hi {i}\n#Person2#: yes", "topic": t}
            for i, t in enumerate(["shopping", "take a taxi", "weather"] * 10)]
    for name in ("train", "dev", "test"):
        (d / f"dialogsum.{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) if name == "train"
                                                  else "")
    data = topics_dataset(tmp_path, tmp_path / "topics")
    lines = sum((Path(p).read_text().splitlines()[1:] for p in data.values()), [])
    assert len(lines) == 20 and {x.split("\t")[1] for x in lines} == {"shopping", "travel"}
    assert "#Person1#: hi 0 #Person2#: yes\tshopping" in lines
    r = load_recipe(recipe_for("topics", data, 30, tmp_path / "r.yaml"))
    assert r.data == {k: str(v) for k, v in data.items()} and r.auto == {"max_minutes": 30}
    assert r.steps == load_recipe(ROOT / "recipes" / "classify-auto.yaml").steps
