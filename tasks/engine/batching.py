"""Tokenised features -> padded batches, with length bucketing.

CPU time grows with the padded length of a batch, so batches are built from
examples of similar length (sorted inside large shuffled pools), and padded only
to the longest example of the batch (dynamic padding).
"""
from __future__ import annotations

import random

import numpy as np
import paddle
from paddlenlp.data import Pad


class LengthBucketBatchSampler(paddle.io.BatchSampler):
    """Deterministic per (seed, epoch); ``start(epoch, skip)`` resumes mid-epoch.

    Training batches hold examples of the same length wherever the data allows (all examples
    sorted by length, ties in a random order per epoch; the batches then shuffled): a batch
    without padding needs no attention mask, which saves a broadcast add in every layer."""

    def __init__(self, lengths, batch_size: int, shuffle: bool = True, seed: int = 0, share: tuple = (0, 1)):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world = share  # data parallel: this process takes every world-th example of a batch
        self.epoch, self.skip = 0, 0

    def batches(self, epoch: int) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        if not self.shuffle:  # evaluation: sort by length for speed, order restored by the caller
            order.sort(key=lambda i: self.lengths[i])
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        rng = random.Random(self.seed * 100_003 + epoch)
        rng.shuffle(order)
        order.sort(key=lambda i: self.lengths[i])  # stable: random order within one length
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        rng.shuffle(batches)
        return batches

    def start(self, epoch: int, skip: int = 0):
        self.epoch, self.skip = epoch, skip

    def global_batches(self, epoch: int) -> list[list[int]]:
        batches = self.batches(epoch)
        return [b for b in batches if len(b) >= self.world] if self.world > 1 else batches

    def __iter__(self):
        for batch in self.global_batches(self.epoch)[self.skip:]:
            yield batch[self.rank::self.world] if self.world > 1 else batch

    def __len__(self):
        full, rest = divmod(len(self.lengths), self.batch_size)
        return full + (0 < rest and rest >= self.world)


class FeatureDataset(paddle.io.Dataset):
    def __init__(self, features: list[dict]):
        self.features = features

    def __getitem__(self, i):
        return self.features[i]

    def __len__(self):
        return len(self.features)


def pad_collator(pad_values: dict, int_keys=("label",)):
    """collate_fn padding each sequence field with its own pad value (PaddleNLP's Pad)."""
    pads = {key: Pad(pad_val=value, dtype="int64") for key, value in pad_values.items()}

    def collate(features: list[dict]) -> dict:
        batch = {key: paddle.to_tensor(pad([f[key] for f in features])) for key, pad in pads.items()
                 if key in features[0]}  # e.g. no labels at prediction time
        for key in int_keys:
            if key in features[0]:
                batch[key] = paddle.to_tensor(np.asarray([f[key] for f in features], dtype="int64"))
        return batch

    return collate


def make_loader(features, collate, batch_size: int, shuffle: bool, seed: int = 0, share: tuple = (0, 1)):
    sampler = LengthBucketBatchSampler([f["length"] for f in features], batch_size, shuffle, seed, share)
    loader = paddle.io.DataLoader(FeatureDataset(features), batch_sampler=sampler, collate_fn=collate, num_workers=0)
    return loader, sampler


def iterate_in_order(features, collate, batch_size: int):
    """Evaluation batches sorted by length; yields (indices, batch) so callers can restore order."""
    sampler = LengthBucketBatchSampler([f["length"] for f in features], batch_size, shuffle=False)
    for idx in sampler.batches(0):
        yield idx, collate([features[i] for i in idx])
