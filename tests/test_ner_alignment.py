"""Sentence-level pieces aligned to MSRA's characters on the offline encoder's own tokenisation:
every character is either the first character of a piece (it carries its label) or inside the
piece of the character before it; the pieces cost at most a few entities (the oracle bound)."""
import unicodedata

from tasks import datasets
from tasks.engine.metrics import chunk_scores
from tasks.engine.runner import load_split, task_class


def test_pieces_start_at_words_and_cover_every_word():
    cls = task_class("ner")
    examples = load_split(cls, "offline", "dev", 400)
    task = cls("e5-small-zh", datasets.label_list("ner", examples), 128)
    tokenizer = task.tokenizer
    features = task.encode_all(examples)
    assert task.unaligned == 0
    for example, feature in zip(examples, features):
        starts, words = feature["word_starts"], feature["start_words"]
        assert starts == sorted(set(starts)) and words == sorted(set(words)) and words[0] == 0
        assert feature["covered_words"] == len(example["tokens"])  # no sentence here reaches 128 pieces
        for position, word in zip(starts, words):
            if feature["input_ids"][position] == tokenizer.unk_token_id:  # a rare character (about 1 in 6,000)
                continue
            surface = tokenizer.convert_ids_to_tokens(feature["input_ids"][position]).lstrip("\u2581")
            assert surface[:1] in unicodedata.normalize("NFKC", example["tokens"][word]), (surface, word)
        assert len(feature["tags"]) == len(starts)
    # perfect piece-level predictions: the entities a piece boundary cuts are the only loss
    oracle = [task.word_tags([f["gold"][w] for w in f["start_words"]], f) for f in features]
    bound = chunk_scores([f["gold"] for f in features], oracle)["f1"]
    assert 0.93 < bound < 1.0, bound
    assert sum(len(f["input_ids"]) for f in features) < 0.85 * sum(len(e["tokens"]) + 2 for e in examples)


def test_word_tags_continue_the_piece_tag():
    from tasks.ner import NerTask

    feature = {"num_words": 6, "start_words": [0, 1, 4], "covered_words": 5}
    assert NerTask.word_tags(["O", "B-LOC", "I-LOC"], feature) == ["O", "B-LOC", "I-LOC", "I-LOC", "I-LOC", "O"]
