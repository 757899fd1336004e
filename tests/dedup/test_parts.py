"""The pieces the passes rely on: normalisation, pigeonhole spans, blank detection, b-bit
Jaccard, bounded candidate generation, greedy order."""

from __future__ import annotations

import io
import random

import numpy as np
from dedup_helpers import blank, image
from PIL import Image as PILImage
from PIL import ImageDraw

from finereason.dedup.grouping import WINDOW, candidate_pairs, greedy
from finereason.dedup.minhash import band_keys, jaccard_estimate, minhash, pack_low_bits
from finereason.dedup.phash import chunk_spans, distances, informative, mostly_blank, span_values
from finereason.dedup.signatures import DedupSettings
from finereason.dedup.text import answer_key, char_shingles, content_words, ngram_hashes, question_words, words
from finereason.io.images import phash


def test_normalisation_ignores_case_spacing_punctuation_tags_and_superscripts() -> None:
    assert words("<image> What IS  x²?\n") == words("what is x2") == ["what", "is", "x2"]
    assert question_words("Pick one:", ["A. 3", "B. 4"]) == ["pick", "one", "a", "3", "b", "4"]
    assert words("What is $x+1$?") == words("what is x + 1") != words("What is x-1?")
    assert words("x − 1") == words("x - 1")
    assert answer_key(None) == answer_key("  ") == 0
    assert answer_key("$12$.") == answer_key("12") != 0
    # a letter is its option: shuffled options agree, different picks do not
    assert answer_key("B", ["eats food", "makes food"]) == answer_key("A", ["makes food", "eats food"])
    assert answer_key("B", ["eats food", "makes food"]) != answer_key("B", ["makes food", "eats food"])
    assert answer_key("E", ["x", "y"]) == answer_key("e")  # out of range: the letter itself


def test_word_ngrams_and_shingles() -> None:
    ws = "one two three four five six seven eight nine".split()
    assert len(ngram_hashes(ws, 8)) == 2
    assert ngram_hashes(ws[:7], 8) == set()
    assert char_shingles("abc", 5) == [b"abc"] and char_shingles("", 5) == []
    assert content_words(words("Find the measure of angle ABC in the figure.")) == {"measure", "angle", "abc"}


def test_pigeonhole_spans_find_every_hash_within_the_distance() -> None:
    rng = random.Random(0)
    for d in (0, 2, 4, 8):
        spans = chunk_spans(d)
        assert sum(w for _, w in spans) == 64 and len(spans) == d + 1
        for _ in range(200):
            a = rng.getrandbits(64)
            b = a
            for bit in rng.sample(range(64), rng.randint(0, d)):
                b ^= 1 << bit
            x, y = np.asarray([a], np.uint64), np.asarray([b], np.uint64)
            assert distances(x, y)[0] <= d
            assert any(span_values(x, s)[0] == span_values(y, s)[0] for s in spans)


def test_flat_images_have_uninformative_hashes() -> None:
    assert informative(blank("white").phash) is None
    assert informative(blank("black").phash) is None
    assert informative(blank("#808080", (500, 100)).phash) is None
    assert informative(image(1).phash) is not None
    assert informative(None) is None and informative("not-hex") is None


def test_blank_looking_images_are_mostly_blank() -> None:
    page = PILImage.new("RGB", (300, 200), "white")
    ImageDraw.Draw(page).text((5, 5), "Fig 1", fill="black")  # a label in a corner: 32 bits set, but blank
    buf = io.BytesIO()
    page.save(buf, "PNG")
    assert informative(phash(page)) is not None and mostly_blank(buf.getvalue())
    assert mostly_blank(blank("white").bytes)
    assert mostly_blank(b"definitely not an image")
    assert not mostly_blank(image(7).bytes)
    sparse = PILImage.new("RGB", (800, 600), "white")
    ImageDraw.Draw(sparse).polygon([(160, 480), (640, 480), (400, 120)], outline="black", width=2)
    buf = io.BytesIO()
    sparse.save(buf, "PNG")
    assert not mostly_blank(buf.getvalue())  # a bare line drawing is a picture


def test_packed_low_bits_estimate_the_true_jaccard() -> None:
    rng = random.Random(1)
    universe = [f"w{i}".encode() for i in range(4000)]
    rows, truth = [], []
    for j in (0.2, 0.5, 0.8, 0.95):
        shared = int(400 * 2 * j / (1 + j))  # |A∩B| for |A| = |B| = 400 and Jaccard j
        pool = rng.sample(universe, 800)
        a, b = pool[:400], pool[:shared] + pool[400 : 400 + 400 - shared]
        rows += [minhash(a, 128), minhash(b, 128)]
        truth.append(len(set(a) & set(b)) / len(set(a) | set(b)))
    packed = pack_low_bits(np.stack(rows))
    assert packed.shape == (8, 64)
    est = jaccard_estimate(packed, np.arange(0, 8, 2), np.arange(1, 8, 2))
    assert np.all(np.abs(est - np.asarray(truth)) < 0.12)
    assert jaccard_estimate(packed, np.asarray([0]), np.asarray([0]))[0] == 1.0


def test_band_keys_agree_exactly_when_the_band_and_the_numbers_do() -> None:
    v = np.random.default_rng(0).integers(0, 2**32, size=(3, 18), dtype=np.uint64).astype(np.uint32)
    v[1, :9] = v[0, :9]  # rows 0 and 1 share band 0 only
    v[2] = v[0]
    keys = band_keys(v, 2, 9, np.asarray([5, 5, 6], np.uint32))
    assert keys[0, 0] == keys[1, 0] and keys[0, 1] != keys[1, 1]
    assert keys[2, 0] != keys[0, 0]  # same text, other numbers: never a candidate


def test_candidate_pairs_stay_bounded_in_a_bucket_of_one_template() -> None:
    keys = np.asarray([7] * 1000 + [1, 2, 1], np.uint64)
    items = np.arange(1003)
    a, b = candidate_pairs(keys, items)
    assert len(a) <= (WINDOW + 1) * 1000
    assert np.all(a < b)
    pairs = set(zip(a.tolist(), b.tolist()))
    assert (1000, 1002) in pairs and (0, 999) in pairs and (998, 999) in pairs


def test_greedy_keeps_the_first_and_never_names_a_dropped_twin() -> None:
    # 0~1 and 1~2 but not 0~2: 1 goes (twin 0), 2 stays, since its only match left.
    twin = greedy(np.asarray([[0, 1], [1, 2], [3, 5], [4, 5]]), 6)
    assert twin.tolist() == [-1, 0, -1, -1, -1, 3]


def test_lsh_bands_favour_recall_at_the_threshold() -> None:
    s = DedupSettings()
    assert s.bands * s.rows <= s.num_perm
    p = 1 - (1 - 0.8**s.rows) ** s.bands
    assert p > 0.85
