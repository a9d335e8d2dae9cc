"""The text-video joint embedding of HowTo100M (its model.py), with SSAN's GRU reading beside it.

Video: a clip's feature vector ``(B, Dv)`` -> :class:`GatedEmbeddingUnit` -> ``(B, d)``, unit norm.
Text: token ids ``(B, W)`` -> word vectors -> a sentence encoder -> a gated embedding unit.
Similarity: the cosine, text rows x video columns.

Sentence encoders (``text_encoder``):
- ``maxpool``: HowTo100M's code (``Sentence_Maxpool``, model.py:68-79): one linear layer applied
  to every word, ReLU, max over the words. Padding is not masked there, so padded positions enter
  the max as relu(bias); ``mask_padding=False`` keeps that, True leaves them out.
- ``gru``: what SSAN's text says ("a GRU based text-video joint embedding network"): a one-layer
  bidirectional GRU over the words, its outputs max-pooled over the real words. Neither the
  HowTo100M paper (a "shallow 1D-CNN") nor its code has a GRU (docs/retrieval-facts.md
  section 3); the switch lets a user run both readings.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT_ENCODERS = ("maxpool", "gru")


class GatedEmbeddingUnit(nn.Module):
    """``(B, D_in)`` -> ``(B, D_out)`` unit vectors: a linear layer, context gating
    ``y * sigmoid(W y + b)``, L2 normalisation (HowTo100M eq. 2-3; model.py:54-66, 82-94)."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.gate = nn.Linear(d_out, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return F.normalize(y * torch.sigmoid(self.gate(y)), dim=-1)


class SentenceMaxpool(nn.Module):
    """``(B, W, E)`` word vectors -> ``(B, D)``: linear + ReLU per word, max over words."""

    def __init__(self, word_dim: int, d_out: int, mask_padding: bool = False) -> None:
        super().__init__()
        self.fc = nn.Linear(word_dim, d_out)
        self.mask_padding = mask_padding

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc(words))
        if self.mask_padding:
            # ReLU output is >= 0, so a zero at a padded position never wins the max over a word
            h = h * mask.unsqueeze(-1)
        return h.max(dim=1).values


class SentenceGRU(nn.Module):
    """``(B, W, E)`` -> ``(B, D)``: a bidirectional GRU (D/2 per direction), max over real words."""

    def __init__(self, word_dim: int, d_out: int) -> None:
        super().__init__()
        if d_out % 2:
            raise ValueError(f"the GRU text encoder needs an even output size, got {d_out}")
        self.gru = nn.GRU(word_dim, d_out // 2, batch_first=True, bidirectional=True)

    def forward(self, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).clamp_min(1).cpu()  # an empty caption reads its (zero) first slot
        packed = nn.utils.rnn.pack_padded_sequence(words, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=words.shape[1],
                                                  padding_value=float("-inf"))
        return out.max(dim=1).values


class RetrievalNet(nn.Module):
    """Caption x video cosine similarities from token ids and clip features.

    ``word_vectors``: a ``(V, E)`` table used frozen (word2vec, as HowTo100M looks words up in its
    data loader), or None with ``vocab_size`` for a learned table (the synthetic profile).
    ``text_dim``: the sentence encoder's output (HowTo100M: the embedding size ``d``).
    """

    def __init__(self, video_dim: int, embed_dim: int, word_vectors: torch.Tensor | None = None,
                 vocab_size: int | None = None, word_dim: int = 300, text_encoder: str = "maxpool",
                 text_dim: int | None = None, mask_padding: bool = False) -> None:
        super().__init__()
        if text_encoder not in TEXT_ENCODERS:
            raise ValueError(f"text encoder {text_encoder!r}: use one of {', '.join(TEXT_ENCODERS)}")
        if word_vectors is not None:
            self.words = nn.Embedding.from_pretrained(word_vectors.float(), freeze=True, padding_idx=0)
        elif vocab_size:
            self.words = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        else:
            raise ValueError("give word_vectors (a word2vec table) or vocab_size (learned embeddings)")
        e, t = self.words.embedding_dim, text_dim or embed_dim
        self.sentence = (SentenceMaxpool(e, t, mask_padding) if text_encoder == "maxpool"
                         else SentenceGRU(e, t))
        self.text = GatedEmbeddingUnit(t, embed_dim)
        self.video = GatedEmbeddingUnit(video_dim, embed_dim)

    def embed_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, W)`` token ids -> ``(B, d)`` unit vectors."""
        return self.text(self.sentence(self.words(tokens), (tokens != 0).float()))

    def embed_video(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, Dv)`` clip features -> ``(B, d)`` unit vectors."""
        return self.video(features)

    def forward(self, tokens: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """``(B_text, B_video)`` cosine similarities."""
        return self.embed_text(tokens) @ self.embed_video(features).t()
