"""Reference solution: mlm_masking (instructor only)."""

import numpy as np

ASSIGNMENT = "mlm_masking"


def expected_mask_counts(num_tokens, mask_prob=0.15):
    selected = num_tokens * mask_prob
    return {"selected": selected, "mask": 0.8 * selected, "random": 0.1 * selected, "unchanged": 0.1 * selected}


def mask_tokens(input_ids, vocab_size, mask_token_id, special_token_ids, seed, mask_prob=0.15):
    rng = np.random.default_rng(seed)
    ids = np.asarray(input_ids)
    special = np.isin(ids, special_token_ids)
    selected = (rng.random(len(ids)) < mask_prob) & ~special
    labels = np.where(selected, ids, -100)
    action = rng.random(len(ids))
    out = ids.copy()
    out[selected & (action < 0.8)] = mask_token_id
    to_random = selected & (action >= 0.8) & (action < 0.9)
    normal = np.setdiff1d(np.arange(vocab_size), special_token_ids)
    out[to_random] = rng.choice(normal, size=int(to_random.sum()))
    return out.tolist(), labels.tolist()


def whole_word_mask(input_ids, spans, mask_token_id, seed, mask_prob=0.15):
    rng = np.random.default_rng(seed)
    out = list(input_ids)
    labels = [-100] * len(input_ids)
    chosen = rng.random(len(spans)) < mask_prob
    for (start, end), take in zip(spans, chosen):
        if take:
            for i in range(start, end):
                labels[i] = input_ids[i]
                out[i] = mask_token_id
    return out, labels


def sentence_pairs(documents, task, seed):
    rng = np.random.default_rng(seed)
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            first, second = doc[i], doc[i + 1]
            if rng.random() < 0.5:
                pairs.append([first, second, 1])
            elif task == "sop":
                pairs.append([second, first, 0])
            else:
                others = [s for e, other in enumerate(documents) if e != d for s in other]
                pairs.append([first, others[rng.integers(len(others))], 0])
    return pairs
