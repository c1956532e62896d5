"""First-sub-token alignment on the offline encoder's own tokenisation: each MSRA character gets
exactly one position (its first piece), almost always a piece of its own, rarely unknown."""
from collections import Counter

from tasks import datasets
from tasks.engine.runner import load_split, task_class


def test_each_character_starts_one_piece_of_its_own():
    cls = task_class("ner")
    examples = load_split(cls, "offline", "dev", 400)
    task = cls("e5-small-zh", datasets.label_list("ner", examples), 128)
    tokenizer = task.tokenizer
    pieces_per_char, unknown, other_text, chars = Counter(), 0, 0, 0
    for example in examples:
        feature = task.encode(example)
        ids = feature["input_ids"]
        assert len(feature["word_starts"]) == len(example["tokens"])  # no sentence here reaches 128 tokens
        assert feature["word_starts"] == sorted(set(feature["word_starts"])) and feature["word_starts"][0] == 1
        for word, start in zip(example["tokens"], feature["word_starts"]):
            chars += 1
            pieces = task.word_pieces(word)
            pieces_per_char[len(pieces)] += 1
            assert ids[start] == pieces[0]
            first = tokenizer.convert_ids_to_tokens(pieces[0])
            assert first != "\u2581", word  # a bare word-boundary piece would carry the label of nothing
            unknown += pieces[0] == tokenizer.unk_token_id
            other_text += "".join(tokenizer.convert_ids_to_tokens(pieces)).lstrip("\u2581") != word
    assert pieces_per_char[1] / chars > 0.99, pieces_per_char
    assert unknown / chars < 0.002
    assert other_text / chars < 0.08  # full-width punctuation is normalised (，-> ,), letters are not changed
