"""Retrieval building blocks (SSAN Tables 7 and 8): metrics on a hand-computed similarity matrix,
the ranking loss by hand, HowTo100M's caption pre-processing, the word2vec reader, the model."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from repro.retrieval.loss import max_margin_ranking_loss
from repro.retrieval.metrics import ranks, retrieval_metrics
from repro.retrieval.model import GatedEmbeddingUnit, RetrievalNet, SentenceMaxpool
from repro.retrieval.text import PAD, Vocabulary, read_word2vec, tokenize

# Rows are captions, columns videos; caption i describes video i.
SIM = torch.tensor([[0.9, 0.1, 0.2, 0.0],    # true 0.9 is the highest: rank 1
                    [0.5, 0.4, 0.6, 0.1],    # true 0.4, beaten by 0.5 and 0.6: rank 3
                    [0.2, 0.1, 0.3, 0.8],    # true 0.3, beaten by 0.8: rank 2
                    [0.7, 0.6, 0.5, 0.1]])   # true 0.1, last: rank 4


def test_ranks_and_metrics_of_a_hand_computed_matrix():
    assert ranks(SIM).tolist() == [1, 3, 2, 4]
    m = retrieval_metrics(SIM)
    assert m["r@1"] == 25.0 and m["r@5"] == 100.0 and m["r@10"] == 100.0
    assert m["median_rank"] == 2.5  # the mean of the middle ranks 2 and 3, as numpy's median


def test_a_caption_can_name_any_column_and_ties_count_against_it():
    sim = torch.tensor([[0.3, 0.3, 0.1], [0.2, 0.9, 0.9]])
    assert ranks(sim, torch.tensor([0, 2])).tolist() == [2, 2]
    assert retrieval_metrics(torch.zeros(3, 3))["r@1"] == 0.0  # a constant score retrieves nothing
    with pytest.raises(ValueError, match="diagonal"):
        ranks(torch.zeros(2, 3))


def test_ranking_loss_by_hand():
    s = torch.tensor([[0.8, 0.75], [0.2, 0.5]])
    # entries (i, j): relu(m + s_ij - s_ii) + relu(m + s_ij - s_jj), m = 0.1
    by_hand = [0.1 + 0.1, 0.05 + 0.35, 0.0 + 0.0, 0.1 + 0.1]
    assert max_margin_ranking_loss(s).item() == pytest.approx(sum(by_hand) / 4)
    s = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], requires_grad=True)
    loss = max_margin_ranking_loss(s)
    loss.backward()
    assert loss.item() == pytest.approx(0.1)  # only the diagonal's constant 2m per entry is left
    assert torch.count_nonzero(s.grad) == 0  # every negative is past the margin
    with pytest.raises(ValueError, match="square"):
        max_margin_ranking_loss(torch.zeros(2, 3))


def test_captions_are_split_as_howto100m_splits_them():
    assert tokenize("A man's hand, slicing 2 onions!") == ["A", "man's", "hand", "slicing", "2", "onions"]
    vocab = Vocabulary.from_captions(["a red circle", "a blue square moves"])
    ids = vocab.encode("a RED circle moves left", max_words=5)  # case kept: RED, left unknown
    assert ids.tolist() == [vocab.index["a"], vocab.index["circle"], vocab.index["moves"], PAD, PAD]
    assert vocab.encode("a " * 30, max_words=4).tolist() == [vocab.index["a"]] * 4


def test_word2vec_binary_is_read_without_gensim(tmp_path):
    rows = {"cat": [1.0, 2.0, 3.0], "dog": [0.5, -1.0, 0.0], "é": [9.0, 9.0, 9.0]}
    with open(tmp_path / "w.bin", "wb") as f:
        f.write(b"3 3\n")
        for w, v in rows.items():
            f.write(w.encode() + b" " + struct.pack("<3f", *v) + b"\n")
    vocab, table = read_word2vec(tmp_path / "w.bin")
    assert vocab.words == ["<pad>", "cat", "dog", "é"] and table.shape == (4, 3)
    assert table[0].tolist() == [0, 0, 0] and table[vocab.index["dog"]].tolist() == [0.5, -1.0, 0.0]
    vocab, table = read_word2vec(tmp_path / "w.bin", keep={"dog"})
    assert vocab.words == ["<pad>", "dog"] and table[1].tolist() == [0.5, -1.0, 0.0]
    (tmp_path / "bad.bin").write_bytes(b"not a header at all\n")
    with pytest.raises(ValueError, match="not a word2vec"):
        read_word2vec(tmp_path / "bad.bin")


def test_gated_embedding_unit_and_maxpool_by_hand():
    torch.manual_seed(0)
    geu = GatedEmbeddingUnit(6, 4)
    x = torch.randn(3, 6)
    y = geu.fc(x)
    expect = torch.nn.functional.normalize(y * torch.sigmoid(geu.gate(y)), dim=1)
    assert torch.allclose(geu(x), expect) and torch.allclose(geu(x).norm(dim=1), torch.ones(3))
    pool = SentenceMaxpool(5, 4)
    words, mask = torch.randn(2, 3, 5), torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    h = torch.relu(pool.fc(words))
    assert torch.allclose(pool(words, mask), h.max(1).values)  # HowTo100M: padding not masked
    pool.mask_padding = True
    assert torch.allclose(pool(words, mask)[1], h[1, 0])


@pytest.mark.parametrize("encoder", ["maxpool", "gru"])
def test_retrieval_net_learns_a_toy_pairing(encoder):
    """Four videos with two captions each: the training loop (one caption drawn per video and
    epoch) ranks every test caption's video first; untrained, it does not."""
    from repro.retrieval.train import RetrievalRecipe, fit_retrieval, test_retrieval

    torch.manual_seed(0)
    things = ["red circle", "blue circle", "red square", "blue square"]
    vocab = Vocabulary.from_captions([f"a {t} moves" for t in things])
    caps = [np.stack([vocab.encode(f"a {t}", 4), vocab.encode(f"{t} moves", 4)]) for t in things]
    feats = torch.eye(4) + 0.1 * torch.randn(4, 4)
    net = RetrievalNet(4, 16, vocab_size=len(vocab), word_dim=8, text_encoder=encoder)
    test_tokens = torch.from_numpy(np.stack([c[1] for c in caps]))
    before, _ = test_retrieval(net, feats, test_tokens)
    history = fit_retrieval(net, feats, caps, RetrievalRecipe(epochs=60, batch_size=4, lr=2e-2))
    after, sim = test_retrieval(net, feats, test_tokens)
    assert before["r@1"] < 100.0 and after["r@1"] == 100.0 and sim.shape == (4, 4)
    assert history[-1]["loss"] < history[0]["loss"] and len(history) == 60


def test_frozen_word_vectors_stay_frozen():
    table = torch.randn(5, 3)
    table[0] = 0
    net = RetrievalNet(4, 8, word_vectors=table)
    assert not net.words.weight.requires_grad and torch.equal(net.words.weight, table)
    with pytest.raises(ValueError, match="text encoder"):
        RetrievalNet(4, 8, vocab_size=5, text_encoder="lstm")


def test_msrvtt_layout_reads_the_1ka_split(tmp_path):
    from repro.data.ssv2 import DatasetError
    from repro.retrieval import datasets as D
    from repro.retrieval.smoke import write_msrvtt

    root = write_msrvtt(tmp_path / "msrvtt", train=4, test=2, captions=3)
    train, test = D.msrvtt_clips(root, "train"), D.msrvtt_clips(root, "test")
    assert [c.video_id for c in train] == ["video0", "video1", "video2", "video3"]
    assert all(len(c.captions) == 3 and c.path.is_file() for c in train)
    assert [c.video_id for c in test] == ["video4", "video5"] and len(test[0].captions) == 1
    (root / D.MSRVTT_TRAIN).write_text("video_id\nvideo0\nvideo5\n")  # a test video in training
    with pytest.raises(DatasetError, match="test videos"):
        D.msrvtt_clips(root, "train")
    (root / D.MSRVTT_TEST).unlink()
    with pytest.raises(DatasetError, match="MSRVTT_JSFUSION_test.csv"):
        D.msrvtt_clips(root, "test")


def test_youcook_segments_are_clips_and_validation_is_the_test_set(tmp_path):
    from repro.retrieval import datasets as D
    from repro.retrieval.smoke import write_youcook

    root = write_youcook(tmp_path / "yc", videos=4, segments=2)
    train, test = D.youcook_clips(root, "train"), D.youcook_clips(root, "test")
    assert [c.video_id for c in train] == ["yc000_0", "yc000_1", "yc001_0", "yc001_1"]
    assert [c.video_id for c in test] == ["yc002_0", "yc002_1", "yc003_0", "yc003_1"]
    assert test[1].start == 1.0 and test[1].end == 2.0 and test[1].path.is_file()
    with pytest.raises(ValueError, match="train or test"):
        D.youcook_clips(root, "val")


def test_synthetic_captions_are_deterministic_and_name_order_only_where_a_reverse_exists():
    import json

    from repro.data.synthetic import CLASSES
    from repro.retrieval.captions import PHRASES, captions_for

    assert set(PHRASES) == {c.template for c in CLASSES}  # every class has its phrasings
    right = {"id": "961", "template": "Moving [something] from left to right", "placeholders": ["white triangle"]}
    left = {**right, "id": "962", "template": "Moving [something] from right to left"}
    a, b = captions_for(right), captions_for(left)
    assert captions_for(right) == a and captions_for(json.loads(json.dumps(right))) == a
    assert [c.kind for c in a] == ["order", "appearance"]
    assert a[0].text in {p.format(thing="white triangle") for p in PHRASES[right["template"]]}
    assert a[0].text != b[0].text and "white triangle" in a[1].text and "white triangle" in b[1].text
    meet = captions_for({"id": "7", "template": "Two [things] meeting",
                         "placeholders": ["things (green circle and yellow square)"]})
    assert meet[0].kind == "event" and "green circle and yellow square" in meet[0].text
    assert not meet[1].text.startswith("a green circle and")
    for c in CLASSES:  # a bag of words tells a class from its reverse, as max-pooling sees it
        if c.partner_of:
            for mine in PHRASES[c.template]:
                assert all(set(tokenize(mine)) != set(tokenize(theirs)) for theirs in PHRASES[c.partner_of])
    seeds = {captions_for(right, seed=s)[0].text for s in range(20)}
    assert len(seeds) == 2  # the seed draws among the phrasings
    with pytest.raises(ValueError, match="no captions"):
        captions_for({"id": "1", "template": "Juggling [something]", "placeholders": ["ball"]})


def test_features_are_the_classifier_input_averaged_over_frames_and_resume(tmp_path):
    import repro
    from repro.data.transforms import normalize
    from repro.retrieval.features import clip_features, extract

    torch.manual_seed(0)
    model = repro.build_model("probe_modules", "tsn", "synthetic").eval()
    clips = torch.randint(0, 256, (6, 3, 8, 28, 28), dtype=torch.uint8)
    x = normalize(clips)
    with torch.no_grad():
        frames = x.transpose(1, 2).reshape(48, 3, 28, 28)
        expect = model.features(frames).view(6, 8, -1).mean(1)
    assert torch.allclose(clip_features(model, clips), expect, atol=1e-5)

    calls = []
    model.fc.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0] // 8))

    def batches(stop_after=None):
        for k, start in enumerate(range(0, 6, 2)):
            if stop_after is not None and k == stop_after:
                raise KeyboardInterrupt  # the run is stopped after two batches
            yield {"video": clips[start:start + 2], "index": torch.arange(start, start + 2), "bad": 0,
                   "bad_videos": []}

    with pytest.raises(KeyboardInterrupt):
        extract(model, batches(stop_after=2), 6, tmp_path / "f", progress=False)
    assert sum(calls) == 4
    feats, bad = extract(model, batches(), 6, tmp_path / "f", progress=False)
    assert sum(calls) == 6 and bad == []  # only the last batch ran again
    assert feats.shape == (6, expect.shape[1]) and feats.dtype == np.float16
    assert np.allclose(feats.astype(np.float32), expect.numpy(), atol=2e-3, rtol=2e-3)
    extract(model, batches(), 6, tmp_path / "f", progress=False)
    assert sum(calls) == 6  # finished: read back without the model
    with pytest.raises(ValueError, match="not 7"):
        extract(model, batches(), 7, tmp_path / "f", progress=False)

    # An unreadable video: a zero row, named, and the others still extracted.
    def with_bad():
        yield {"video": clips[:1], "index": torch.tensor([0]), "bad": 1, "bad_videos": ["v1.mp4: broken"]}
        yield {"video": clips[2:4], "index": torch.tensor([2, 3]), "bad": 0, "bad_videos": []}
    feats, bad = extract(model, with_bad(), 4, tmp_path / "g", progress=False)
    assert bad == ["v1.mp4: broken"] and not feats[1].any() and feats[3].any()


def test_probe_scoring_by_hand():
    from repro.retrieval.captions import Caption
    from repro.retrieval.probe import matching_videos, order_only_r1, reverse_partners

    entries = [{"id": "1", "template": "Moving [something] from left to right", "placeholders": ["red circle"]},
               {"id": "2", "template": "Moving [something] from left to right", "placeholders": ["blue square"]},
               {"id": "3", "template": "Moving [something] from right to left", "placeholders": ["red circle"]},
               {"id": "4", "template": "Moving [something] from right to left", "placeholders": ["blue square"]}]
    assert reverse_partners(entries) == {0: 2, 2: 0, 1: 3, 3: 1}
    caps = [Caption("1", "order", "a red circle moving from left to right"),
            Caption("4", "order", "a blue square moving from right to left"),
            Caption("3", "appearance", "a red circle")]
    pos = matching_videos(entries, caps)
    assert pos == [[0], [3], [0, 2]]
    sim = torch.tensor([[0.9, 0.1, 0.9, 0.0],    # ties with its reverse: rank 2, half a win
                        [0.2, 0.8, 0.1, 0.7],    # its video 0.7 below the reverse 0.8: rank 2, a loss
                        [0.5, 0.6, 0.4, 0.1]])   # best match (0.5) behind one other: rank 2
    assert ranks(sim, positives=pos).tolist() == [2, 2, 2]
    assert order_only_r1(sim, caps, entries) == 25.0
    entries[2] = {**entries[2], "placeholders": ["green circle"]}
    with pytest.raises(ValueError, match="reverse"):
        reverse_partners(entries)


def test_reverse_partners_of_the_generated_split_are_the_reversed_videos(tiny_root):
    import json

    from repro.data.video import decode
    from repro.retrieval.probe import reverse_partners

    entries = json.loads((tiny_root / "labels" / "something-something-v2-validation.json").read_text())
    pairs = reverse_partners(entries)
    assert len(pairs) == 8  # four reversal pairs, one validation video per class
    a, b = next(iter(pairs.items()))
    clip = lambda e: decode(tiny_root / "20bn-something-something-v2" / f"{e['id']}.webm")  # noqa: E731
    assert np.abs(clip(entries[a])[::-1].astype(int) - clip(entries[b])).mean() < 1.0


def test_only_order_aware_features_retrieve_by_direction():
    """SSAN's claim in mechanism: features that keep frame order let captions that name the
    direction find their video over its time reverse; order-blind ones cannot (exactly 50)."""
    from repro.retrieval.probe import caption_probe
    from repro.retrieval.train import RetrievalRecipe

    looks = [f"{c} {s}" for c in ("red", "blue", "green") for s in ("circle", "square")]
    right, left = "Moving [something] from left to right", "Moving [something] from right to left"

    def split(start):
        base = [{"id": str(start + i), "template": right, "placeholders": [look]} for i, look in enumerate(looks)]
        rev = [{"id": str(start + 100 + i), "template": left, "placeholders": [look]} for i, look in enumerate(looks)]
        return base + rev

    train, val = split(1000), split(2000)
    rng = torch.Generator().manual_seed(0)

    def features(entries, aware):
        out = []
        for e in entries:
            f = torch.zeros(len(looks) + 2)
            f[looks.index(e["placeholders"][0])] = 1.0
            if aware:  # the direction is in the feature; a blind one has the same for both
                f[len(looks) + (e["template"] == left)] = 1.0
            out.append(f + 0.01 * torch.randn(len(f), generator=rng))
        return torch.stack(out)

    recipe = RetrievalRecipe(epochs=150, batch_size=12, lr=1e-2, seed=0)
    blind_val = features(val[:6], False)
    blind = caption_probe(features(train, False), train, torch.cat([blind_val, blind_val]), val, recipe)
    aware = caption_probe(features(train, True), train, features(val, True), val, recipe)
    assert blind["order_only_r@1"] == 50.0  # every video ties with its reverse
    assert aware["order_only_r@1"] >= 90.0 and aware["r@1"] > blind["r@1"]
