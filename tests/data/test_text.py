import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liteformer.data.text import encode_labels, label_map_from_data, read_classification
from liteformer.errors import LiteformerError


def test_bundled_sst2():
    ds = read_classification("sst2:test")
    assert len(ds) == 872 and set(ds.labels) == {"0", "1"}
    assert len(read_classification("sst2:train")) == 8000


def test_formats(tmp_path):
    (tmp_path / "a.csv").write_text('text,y\n"good, very good",pos\nbad,neg\n')
    ds = read_classification(tmp_path / "a.csv", label_column="y")
    assert ds.texts == ["good, very good", "bad"] and ds.labels == ["pos", "neg"]
    (tmp_path / "a.jsonl").write_text(json.dumps({"review": "fine", "label": 1}) + "\n\n"
                                      + json.dumps({"review": "meh", "label": 0}) + "\n")
    ds = read_classification(tmp_path / "a.jsonl")
    assert ds.texts == ["fine", "meh"] and ds.labels == ["1", "0"]
    assert label_map_from_data(ds) == {0: "0", 1: "1"}
    assert encode_labels(ds, {"neg": 0, "pos": 1}) == [1, 0]  # ids as text map by id


def test_label_maps(tmp_path):
    (tmp_path / "a.tsv").write_text("sentence\tlabel\nx\tpos\ny\tneg\nz\tneu\n")
    ds = read_classification(tmp_path / "a.tsv")
    assert label_map_from_data(ds) == {0: "neg", 1: "neu", 2: "pos"}
    assert encode_labels(ds, {"neg": 0, "neu": 1, "pos": 2}) == [2, 0, 1]
    with pytest.raises(LiteformerError, match=r"labels \['neu'\] are not in the model's label map"):
        encode_labels(ds, {"neg": 0, "pos": 1})


@pytest.mark.parametrize("content,message", [
    (b"", "empty file"),
    (b"sentence\tlabel\n", "no data rows"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
    (b"words\tlabel\nx\t1\n", "no text column found"),
    (b"sentence\tlabel\nx\t\n", "row 2 lacks"),
])
def test_bad_files(tmp_path, content, message):
    p = tmp_path / "bad.tsv"
    p.write_bytes(content)
    with pytest.raises(LiteformerError, match=message):
        read_classification(p)


def test_bad_names(tmp_path):
    with pytest.raises(LiteformerError, match="no such file"):
        read_classification(tmp_path / "missing.tsv")
    with pytest.raises(LiteformerError, match="label column 'y' not found"):
        read_classification("sst2:test", label_column="y")
    with pytest.raises(LiteformerError, match="no such bundled data set"):
        read_classification("sst2:nope")
    (tmp_path / "x.parquet").write_text("a")
    with pytest.raises(LiteformerError, match="unknown data format"):
        read_classification(tmp_path / "x.parquet")


# property-based: any bytes under any data suffix give a dataset or one LiteformerError, nothing else

_CELLS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300),
                      st.lists(st.lists(_CELLS, min_size=0, max_size=4), max_size=6).map(
                          lambda rows: "\n".join("\t".join(r) for r in [["sentence", "label"], *rows]).encode())),
       suffix=st.sampled_from([".tsv", ".csv", ".jsonl", ".txt"]))
def test_readers_never_fail_other_than_cleanly(tmp_path, data, suffix):
    from liteformer.data.text import read_classification, read_texts
    p = tmp_path / f"d{suffix}"
    p.write_bytes(data)
    for read in (read_classification, read_texts):
        try:
            out = read(p)
        except LiteformerError as e:
            assert str(p) in str(e) and "\n" not in str(e).strip()
        else:
            assert out is not None


def test_a_long_line_is_data(tmp_path):
    p = tmp_path / "long.tsv"
    p.write_text("sentence\tlabel\n" + "word " * 40000 + "\t1\n")
    assert len(read_classification(p).texts[0]) > 131072
