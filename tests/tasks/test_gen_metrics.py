"""ROUGE (first reference and averaged), BLEU-2, distinct-n and perplexity."""

import math

import pytest

from liteformer.errors import LiteformerError
from liteformer.tasks.gen_metrics import bleu2, distinct, perplexity, rouge


def test_rouge_first_reference_and_average():
    r = rouge(["the cat sat on the mat"], [["the cat sat on the mat", "a dog ran"]])
    assert r["rouge1"] == pytest.approx(100.0) and r["rougeL"] == pytest.approx(100.0)
    assert r["rouge1_avg"] == pytest.approx(50.0)  # (100 + 0) / 2
    stemmed = rouge(["cats running"], [["cat runs"]])  # Porter stemming: cats -> cat, running -> run
    assert stemmed["rouge1"] == pytest.approx(100.0) and stemmed["rouge2"] == pytest.approx(100.0)
    half = rouge(["a b"], [["a c"]])
    assert half["rouge1"] == pytest.approx(50.0) and half["rouge2"] == 0.0
    with pytest.raises(LiteformerError, match="at least one reference"):
        rouge(["x"], [[]])


def test_bleu2_distinct_perplexity():
    assert bleu2(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert 0 < bleu2(["the cat sat on a mat"], ["the cat sat on the mat"]) < 100
    assert distinct(["a a a", "a b"], 1) == pytest.approx(2 / 5)
    assert distinct(["a b a b"], 2) == pytest.approx(2 / 3) and distinct([""], 2) == 0.0
    assert perplexity(2 * math.log(4), 2) == pytest.approx(4.0) and perplexity(1.0, 0) == math.inf
