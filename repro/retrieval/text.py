"""Caption pre-processing as HowTo100M's loaders do it, and the word vectors behind it.

Tokens are the regex ``[\\w']+`` over the raw caption (punctuation separates words, apostrophes
stay), with no lower-casing; words without a vector are dropped; a caption is cut or zero-padded
to ``max_words`` (20 in its args.py:64). Stop words are kept: HowTo100M removed them from its own
narrations offline, never from MSR-VTT or YouCook2 captions (docs/retrieval-facts.md section 3).

Word vectors: the paper profile reads a user-supplied word2vec binary (GoogleNews 300-d, the file
HowTo100M loads with gensim) with :func:`read_word2vec`, which needs no gensim; the synthetic
profile learns its embeddings over a :class:`Vocabulary` of the generated captions.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np

MAX_WORDS = 20
PAD = 0  # token id of padding: row 0 of every embedding table
_WORD = re.compile(r"[\w']+")


def tokenize(caption: str) -> list[str]:
    """The caption's words, as HowTo100M splits them (case kept)."""
    return _WORD.findall(caption)


class Vocabulary:
    """Word -> token id (1-based; 0 is padding). Words outside it are dropped when encoding."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = ["<pad>"] + sorted(set(words))
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_captions(cls, captions: Iterable[str]) -> "Vocabulary":
        return cls(w for c in captions for w in tokenize(c))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, caption: str, max_words: int = MAX_WORDS) -> np.ndarray:
        """``(max_words,)`` int64 token ids: known words in order, cut, then zero-padded."""
        ids = [self.index[w] for w in tokenize(caption) if w in self.index][:max_words]
        return np.array(ids + [PAD] * (max_words - len(ids)), dtype=np.int64)


def read_word2vec(path: Path, keep: set[str] | None = None) -> tuple[Vocabulary, np.ndarray]:
    """The word2vec binary format (``"<count> <dim>\\n"``, then per word its UTF-8 bytes, a space
    and ``dim`` little-endian float32s): a vocabulary and its ``(len(vocab), dim)`` table, row 0
    zero for padding. ``keep`` limits it to the words that occur in the captions (the 3M-word
    GoogleNews file is 3.6 GB; a dataset's captions use a few thousand)."""
    path = Path(path)
    with open(path, "rb") as f:
        header = f.readline().split()
        if len(header) != 2 or not all(h.isdigit() for h in header):
            raise ValueError(f"{path} is not a word2vec binary file (its first line should be "
                             "'<words> <dimension>')")
        count, dim = int(header[0]), int(header[1])
        row = 4 * dim
        words, vectors = [], []
        for _ in range(count):
            chars = bytearray()
            while (c := f.read(1)) != b" ":
                if not c:
                    raise ValueError(f"{path} ends after {len(words)} of its {count} words")
                if c != b"\n":  # some writers end each vector with a newline
                    chars += c
            vec = f.read(row)
            if len(vec) != row:
                raise ValueError(f"{path} ends inside the vector of word {len(words) + 1}")
            word = chars.decode("utf-8", errors="replace")
            if keep is None or word in keep:
                words.append(word)
                vectors.append(np.frombuffer(vec, dtype="<f4"))
    vocab = Vocabulary([])
    vocab.words = ["<pad>"] + words  # the file's order, not sorted: rows follow it
    vocab.index = {w: i for i, w in enumerate(vocab.words)}
    table = np.zeros((len(vocab), dim), dtype=np.float32)
    if vectors:
        table[1:] = np.stack(vectors)
    return vocab, table
