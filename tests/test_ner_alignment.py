"""Sentence-level pieces aligned to MSRA's characters on the offline encoder's own tokenisation:
every character is held by exactly one piece (the one its text starts in), in order, at its rank
inside that piece, so no entity boundary is lost to a piece that spans it."""
import unicodedata

from tasks.data import datasets
from tasks.engine.runner import load_split, task_class
from tasks.ner import NerTask, _hold_every_word


def test_every_word_is_held_by_the_piece_its_character_starts_in():
    cls = task_class("ner")
    examples = load_split(cls, "offline", "dev", 400)
    task = cls("e5-small-zh", datasets.label_list("ner", examples), 128)
    tokenizer = task.tokenizer
    features = task.encode_all(examples)
    assert task.unaligned == 0
    inside, boundaries_inside = 0, 0
    for example, feature in zip(examples, features):
        pieces, ranks = feature["word_pieces"], feature["word_offsets"]
        assert len(pieces) == len(ranks) == len(example["tokens"])  # no sentence here reaches 128 pieces
        assert pieces == sorted(pieces) and pieces[0] >= 1 and ranks[0] == 0
        for w, (position, rank) in enumerate(zip(pieces, ranks)):
            assert rank == (0 if w == 0 or pieces[w - 1] != position else ranks[w - 1] + 1)
            if feature["input_ids"][position] == tokenizer.unk_token_id:  # a rare character (about 1 in 6,000)
                continue
            surface = tokenizer.convert_ids_to_tokens(feature["input_ids"][position]).lstrip("\u2581")
            assert surface[rank:rank + 1] == unicodedata.normalize("NFKC", example["tokens"][w])[:1], (surface, w)
            if rank:
                inside += 1
                boundaries_inside += example["labels"][w].startswith("B-")
        assert len(feature["tags"]) == len(pieces)
    words = sum(len(e["tokens"]) for e in examples)
    assert 0.2 < inside / words < 0.6  # pieces join characters, so ranks above 0 are common
    assert boundaries_inside > 10  # entities that start inside a piece: taggable now
    assert sum(len(f["input_ids"]) for f in features) < 0.85 * sum(len(e["tokens"]) + 2 for e in examples)


def test_words_past_max_length_are_tagged_o():
    assert NerTask.word_tags(["B-LOC", "I-LOC"], {"num_words": 4}) == ["B-LOC", "I-LOC", "O", "O"]


def test_a_word_no_piece_began_joins_the_piece_before_it():
    assert _hold_every_word([(7, [0]), (8, [2])], 3) == [(7, [0, 1]), (8, [2])]
    assert _hold_every_word([(7, []), (8, [1])], 2) == [(7, [0]), (8, [1])]
    assert _hold_every_word([(7, [0, 1])], 2) == [(7, [0, 1])]
