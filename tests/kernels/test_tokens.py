"""fastText's character n-grams (sagespark.kernels.tokens.char_ngrams / subword_buckets)
against the example of Bojanowski et al. 2017 and gensim's FastText, which hashes them
into the same buckets as fastText (fastText 0.9.2's get_subwords gave the same lists;
gensim's compute_ngrams differs only at n = 1, where it keeps the lone boundary marks
that its hashing, like fastText, leaves out)."""

from __future__ import annotations

import pytest

from sagespark.kernels.tokens import char_ngrams, subword_buckets


def test_the_trigrams_of_where_are_the_papers():
    """"where" with n = 3: <wh, whe, her, ere, re> (section 3.2 of the paper)."""
    assert char_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>"]
    assert char_ngrams("a", 1, 2) == ["<a", "a", "a>"]  # the lone boundary marks are left out


@pytest.mark.parametrize("word", ["where", "café", "a", "日本語x", "ab'cd"])
@pytest.mark.parametrize("min_n, max_n", [(3, 6), (2, 4), (1, 3)])
def test_the_ngrams_and_their_buckets_are_gensims(word, min_n, max_n):
    from gensim.models.fasttext import compute_ngrams, ft_ngram_hashes

    theirs = compute_ngrams(word, min_n, max_n)
    marks = [gram for gram in theirs if gram in ("<", ">")]  # gensim keeps them, fastText does not
    assert sorted(char_ngrams(word, min_n, max_n) + marks) == sorted(theirs)
    offsets, buckets = subword_buckets([word, "x"], min_n, max_n, 1000)  # ft_ngram_hashes leaves the marks out
    assert sorted(buckets[offsets[0] : offsets[1]].tolist()) == sorted(ft_ngram_hashes(word, min_n, max_n, 1000))
