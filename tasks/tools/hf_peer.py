"""The Hugging Face transformers + PyTorch peer of `python -m tasks.tools bench-peers` (tasks/tools/peers.py).

Runs with the bench virtualenv's Python (requirements-bench.txt); imports neither paddle nor the
package. Arguments: FOLDER TARGET MINUTES BATCH LR EVAL_EVERY; FOLDER holds data.npz (token ids),
hf_weights.npz and config.json written by tasks.tools.peers.prepare. Prints one JSON line.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification
from transformers import get_linear_schedule_with_warmup


def main():
    folder, target, minutes = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    batch_size, lr, eval_every = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    torch.manual_seed(42)
    paddle_config = json.loads((folder / "config.json").read_text())
    pad_id = paddle_config["pad_token_id"]
    config = BertConfig(vocab_size=paddle_config["vocab_size"], hidden_size=paddle_config["hidden_size"],
                        num_hidden_layers=paddle_config["num_hidden_layers"],
                        num_attention_heads=paddle_config["num_attention_heads"],
                        intermediate_size=paddle_config["intermediate_size"], hidden_act="gelu",
                        max_position_embeddings=paddle_config["max_position_embeddings"],
                        type_vocab_size=paddle_config["type_vocab_size"], layer_norm_eps=paddle_config["layer_norm_eps"],
                        pad_token_id=pad_id, num_labels=2)
    model = BertForSequenceClassification(config)
    weights = {k: torch.from_numpy(v) for k, v in np.load(folder / "hf_weights.npz").items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith("classifier.") or "position_ids" in k for k in missing), missing

    data = np.load(folder / "data.npz")

    def features(split):
        ids, offsets, labels = data[f"{split}_ids"], data[f"{split}_offsets"], data[f"{split}_labels"]
        return [{"input_ids": ids[offsets[i]:offsets[i + 1]].tolist(), "labels": int(labels[i])}
                for i in range(len(labels))]

    def collate(batch):  # dynamic padding, as DataCollatorWithPadding (the ids come from the package's tokenizer)
        width = max(len(f["input_ids"]) for f in batch)
        ids = torch.tensor([f["input_ids"] + [pad_id] * (width - len(f["input_ids"])) for f in batch])
        return {"input_ids": ids, "attention_mask": (ids != pad_id).long(),
                "labels": torch.tensor([f["labels"] for f in batch])}

    train, dev = features("train"), features("dev")
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True, collate_fn=collate)
    dev_loader = torch.utils.data.DataLoader(dev, batch_size=64, collate_fn=collate)
    no_decay = ["bias", "LayerNorm.weight"]
    groups = [{"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
               "weight_decay": 0.01},
              {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
               "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * len(loader)), len(loader))
    train_s, tokens, history, reached = 0.0, 0, [], None

    def evaluate():
        model.eval()
        correct = 0
        with torch.no_grad():
            for batch in dev_loader:
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                correct += int((logits.argmax(-1) == batch["labels"]).sum())
        model.train()
        return correct / len(dev)

    model.train()
    for step, batch in enumerate(loader, 1):
        started = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        float(loss)
        train_s += time.perf_counter() - started
        tokens += int(batch["attention_mask"].sum())
        if step % eval_every == 0:
            accuracy = evaluate()
            history.append({"step": step, "train_s": round(train_s, 1), "dev_accuracy": round(accuracy, 4)})
            print(json.dumps(history[-1]), file=sys.stderr, flush=True)
            if reached is None and accuracy >= target:
                reached = train_s
            if reached is not None or train_s >= minutes * 60:
                break
    print(json.dumps({"train_seconds_to_target": None if reached is None else round(reached, 1),
                      "reached": reached is not None, "train_seconds": round(train_s, 1),
                      "tokens_per_s": round(tokens / max(train_s, 1e-9), 1), "history": history,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
