"""DialogSum-style data: dict-literal lines, every reference kept, next-turn examples split by dialogue."""

import json

import pytest

from liteformer.data.dialogsum import in_split, read_dialogues, read_summaries, read_turns, split_turns
from liteformer.errors import LiteformerError

DIALOGUE = "#Person1#: Hi, how are you?\n#Person2#: Fine, thanks.\nAnd you?\n#Person1#: Good."


def test_bundled_summaries_keep_every_reference():
    test = read_summaries("dialogsum:test")
    assert len(test) == 50 and all(len(r) == 3 for r in test.references)
    assert test.targets == [r[0] for r in test.references]
    assert test.sources[0].startswith("#Person1#: ") and "\n#Person2#: " in test.sources[0]
    assert all(len(r) == 1 for r in read_summaries("dialogsum:train").references)


def test_dict_literal_lines_and_turns(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"fname": "a", "dialogue": DIALOGUE, "summary": "They greet."}) + "\n"
                 + repr({"fname": "b", "dialogue": "#Person1#: Bye.\n#Person2#: See you.", "summary": "Bye."}) + "\n")
    ds = read_dialogues(str(p))
    assert [d.id for d in ds] == ["a", "b"]
    assert ds[0].turns == [("#Person1#", "Hi, how are you?"), ("#Person2#", "Fine, thanks. And you?"),
                           ("#Person1#", "Good.")]  # an untagged line continues its turn
    turns = read_turns(str(p))
    assert turns.sources[0] == "#Person1#: Hi, how are you?\n#Person2#:"
    assert turns.targets == ["Fine, thanks. And you?", "Good.", "See you."] and turns.dialogue == ["a", "a", "b"]


def test_a_file_is_split_by_dialogue_the_same_way_every_time(tmp_path):
    p = tmp_path / "many.jsonl"
    p.write_text("".join(json.dumps({"fname": f"d{i}", "dialogue": DIALOGUE, "summary": "s"}) + "\n"
                         for i in range(400)))
    parts = {s: read_turns(f"{p}:{s}") for s in ("train", "dev", "test")}
    ids = {s: set(d.dialogue) for s, d in parts.items()}
    assert not (ids["train"] & ids["dev"]) and not (ids["train"] & ids["test"]) and not (ids["dev"] & ids["test"])
    assert sum(map(len, ids.values())) == 400 and 320 < len(ids["train"]) < 390
    assert all(in_split(i, "dev") for i in ids["dev"])


@pytest.mark.parametrize(("content", "msg"), [
    (json.dumps({"dialogue": "", "summary": "x"}), "no turns"),
    (json.dumps({"dialogue": "hello there", "summary": "x"}), "speaker tag"),
    (json.dumps({"dialogue": "#Person1#: hi"}), "no 'summary'"),
    (json.dumps({"summary": "x"}), "no 'dialogue'"),
    ("{not json", "neither JSON nor a Python dict literal"),
    ("[1, 2]", "expected an object"),
])
def test_bad_dialogues(tmp_path, content, msg):
    p = tmp_path / "bad.jsonl"
    p.write_text(content + "\n")
    with pytest.raises(LiteformerError, match=msg):
        read_summaries(str(p))


def test_non_utf8_and_missing(tmp_path):
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"dialogue": "#P#: caf\xe9", "summary": "x"}\n')
    with pytest.raises(LiteformerError, match="not UTF-8"):
        read_summaries(str(p))
    with pytest.raises(LiteformerError, match="no such bundled split"):
        read_summaries("dialogsum:validation")
    with pytest.raises(LiteformerError, match="has no turns"):
        split_turns("\n\n", "x")
