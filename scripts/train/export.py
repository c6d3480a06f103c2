"""Export a training run to models/<name>/: model.safetensors (f32, entropy model included),
model.q8.safetensors (int8 linear matrices and embedding tables + per-row f32 scales), golden.safetensors (every
component's outputs on fixed inputs, for the TypeScript parity tests) and manifest.json.

  /usr/bin/python3 -m scripts.train.export --run runs/small --out models/blt-d-small
"""
import argparse
import glob
import hashlib
import json
import math
import os
import sys
import time

from . import cpu  # noqa: F401
import torch
import torch.nn as nn

from . import data as corpus
from . import safetensors_io
from .model import BLT, MASK_ID, BOS_ID, NoisyBlocks, Patches, count_params, latent_index, ngram_hash_rows
from .objective import objective_weights
from .train import evaluate_bpb, hardware, pick_device, shuffled_latents, zero_latents

FORMAT_VERSION = "1"
GOLDEN_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! BLT-D fills blocks of bytes.",
    "It recommended that Fulton legislators act \"to have these laws studied\".",
]
GOLDEN_UNMASKED = (0, 3)        # block offsets given as bytes in the golden denoising step


def objective_text(cfg):
    """The loss the weights were trained with, as the last segment's settings give it (earlier segments may
    have used other weights: training.segments[].settings)."""
    diffusion_weight, next_bytes_weight = objective_weights(cfg)
    terms = ["L_AR"]
    if cfg["model"]["diffusion"]["enabled"]:
        terms.append(f"{diffusion_weight:g} * L_diff (block diffusion)")
    if next_bytes_weight is not None:
        terms.append(f"{next_bytes_weight:g} * L_next_bytes (training-only head)")
    return " + ".join(terms)


def linear_weight_names(model):
    """Names of every nn.Linear weight (the matrices quantised to int8)."""
    return sorted(f"{name}.weight" for name, m in model.named_modules() if isinstance(m, nn.Linear))


def embedding_weight_names(model):
    """Names of every nn.Embedding table (byte and hashed n-gram embeddings; int8 per row in model.q8 too)."""
    return sorted(f"{name}.weight" for name, m in model.named_modules() if isinstance(m, nn.Embedding))


Q8_METADATA = {"quantization": "int8 per-output-row: W ~= q * scale[:, None]; embedding tables int8 per row too",
               "embeddings": "int8"}


def q8_state(model, state):
    """The model.q8 tensors: every Linear weight and every embedding table as int8 + one f32 scale per row
    (`<name>.scale`); norms stay f32. The engine multiplies Linear rows by their scale in its int8 matmul and
    expands the embedding tables to f32 once at load: int8 tables keep the file small (the hashed n-gram
    tables are most of a small model's embeddings), not the memory."""
    q8 = dict(state)
    for name in linear_weight_names(model) + embedding_weight_names(model):
        q8[name], q8[name + ".scale"] = quantize_rows(state[name])
    return q8


def quantize_rows(w):
    """w (out, in) f32 -> int8 q (out, in), scale (out,) with w ~= q * scale[:, None];
    scale = max|w_row| / 127 (1 for an all-zero row), q = round(w / scale) clamped to +-127."""
    scale = w.abs().amax(1) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale.float()


def metadata_for(cfg):
    return {"format_version": FORMAT_VERSION, "config": json.dumps(cfg, sort_keys=True)}


def load_model(path, device="cpu"):
    """Re-import a model.safetensors written by export (f32) -> BLT in eval mode."""
    tensors, meta = safetensors_io.load(path)
    cfg = json.loads(meta["config"])
    model = BLT(cfg).to(device)
    model.load_state_dict(tensors)
    return model.eval(), cfg


def dequantize(tensors):
    """model.q8 tensors -> f32 state dict (for checks)."""
    out = {}
    for k, v in tensors.items():
        if k.endswith(".scale"):
            continue
        out[k] = v.float() * tensors[k + ".scale"][:, None] if v.dtype == torch.int8 else v
    return out


@torch.no_grad()
def golden_vectors(model, texts=GOLDEN_TEXTS):
    """Outputs of every component for a few fixed inputs (batch of one each)."""
    cfg = model.cfg
    B = cfg["diffusion"]["default_block_size"]
    tensors, inputs = {}, []
    for k, text in enumerate(texts):
        raw = list(text.encode("utf-8"))
        tokens = torch.tensor([[BOS_ID] + raw])
        H = model.entropy_model.entropies(tokens)
        is_start = model.patch(tokens, with_next=True)                   # (1, L+1): the last row's next byte too
        out = model(tokens, is_start)
        patches = out["patches"]
        # One BLT-D denoising step: block of B at a patch start s, decoder given only bytes < s.
        q = int(patches.count[0]) // 2
        s = int(patches.starts[0, q])
        block_tokens = [MASK_ID] * B
        for off in GOLDEN_UNMASKED:
            if s + off < tokens.shape[1]:
                block_tokens[off] = int(tokens[0, s + off])
        blocks = NoisyBlocks(torch.tensor([block_tokens]), torch.arange(s, s + B)[None],
                             torch.zeros(1, B, dtype=torch.long), torch.full((1, B), s), torch.full((1, B), q))
        prefix = model(tokens[:, :s], is_start[:, :s + 1], blocks)      # s starts a patch: row s-1 knows it
        full = model(tokens, is_start, blocks)
        leak = (prefix["noisy_logits"] - full["noisy_logits"]).abs().max().item()
        assert leak < 1e-4, f"block logits depend on bytes at or after the block start ({leak})"
        p = f"in{k}."
        tensors[p + "tokens"] = tokens[0].int()
        tensors[p + "ngram_rows"] = torch.stack([ngram_hash_rows(tokens, n, t)[0] for n, t in
                                                 zip(cfg["ngram"]["sizes"], cfg["ngram"]["table_sizes"])]).int()
        tensors[p + "embeddings"] = model.local_encoder.embed(tokens)[0]
        tensors[p + "entropies"] = H[0]
        tensors[p + "patch_starts"] = patches.starts[0].int()
        tensors[p + "byte_states"] = out["byte_states"][0]
        tensors[p + "patch_vectors"] = out["patch_vectors"][0]
        tensors[p + "latents"] = out["latents"][0]
        tensors[p + "logits"] = out["logits"][0]
        reads = latent_index(is_start, tokens.shape[1])[0]
        tensors[p + "latent_reads"] = (reads if model.local_decoder.latent_rule != "v1" else patches.ids[0] - 1).int()
        tensors[p + "block_tokens"] = torch.tensor(block_tokens).int()
        tensors[p + "block_logits"] = prefix["noisy_logits"][0]
        inputs.append({"prefix": p, "text": text, "n_tokens": tokens.shape[1], "n_patches": int(patches.count[0]),
                       "block_start": s, "block_patch": q, "block_size": B, "block_unmasked_offsets": list(GOLDEN_UNMASKED)})
    meta = {"format_version": FORMAT_VERSION, "inputs": json.dumps(inputs), "description": json.dumps({
        "tokens": "(L,) i32: BOS then the UTF-8 bytes",
        "ngram_rows": "(len(ngram.sizes), L) i32: hashed row per n-gram size",
        "embeddings": "(L, local.dim): tok_emb + sum of n-gram rows (local encoder input)",
        "entropies": "(L,) nats; [i] = entropy of the entropy model's prediction for byte i; [0] = 0",
        "patch_starts": "(P,) i32 first position of each patch (patch 0 = BOS)",
        "byte_states": "(L, local.dim) local encoder output (decoder input for clean bytes)",
        "patch_vectors": "(P, global.dim) patch pooling output", "latents": "(P, global.dim) global output",
        "logits": "(L, 256) decoder next-byte logits, row i predicts byte i+1",
        "latent_reads": "(L,) i32 the latent read index of each decoder row (docs/model.md section 8)",
        "block_tokens": "(B,) i32 noisy block input (MASK=258 or a byte) at positions s..s+B-1",
        "block_logits": "(B, 256) decoder logits for the block given only tokens[:s] (one denoising step)"})}
    return tensors, meta


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_window_indices(all_windows, n):
    """Which of the split's `all_windows` non-overlapping windows an n-window evaluation reads: floor(i * all / n)
    for i < n (src/cli/eval.ts computes the same)."""
    import numpy as np
    return (np.arange(n, dtype=np.int64) * all_windows) // n


def tail_average(run_dir, final_step, final_weights, from_step):
    """The mean of the run's weight snapshots (<run>/snapshots/, written by train.py) from `from_step` on and
    of the final weights: an average over the tail of the schedule. Returns (weights, steps averaged)."""
    d = os.path.join(run_dir, "snapshots")
    paths = sorted(glob.glob(os.path.join(d, "*.pt")))
    snaps = [(int(os.path.basename(p)[:-3]), p) for p in paths]
    snaps = [(step, p) for step, p in snaps if from_step <= step < final_step]
    if not snaps:
        sys.exit(f"{d}: no weight snapshots from step {from_step} on (train.snapshot_from_step)")
    total = {k: v.double() for k, v in final_weights.items()}
    for step, p in snaps:
        w = torch.load(p, map_location="cpu", weights_only=False)["model"]
        if w.keys() != total.keys():
            sys.exit(f"{p}: its tensors differ from the run's checkpoint")
        for k in total:
            total[k] += w[k].double()
    n = len(snaps) + 1
    avg = {k: (v / n).to(final_weights[k].dtype) for k, v in total.items()}
    return avg, [step for step, _ in snaps] + [final_step]


def export(run_dir, out_dir, test_bytes=None, device=None, average_from=None):
    device = device or pick_device()
    # weights_only=False: the run's own checkpoint holds optimizer and RNG state besides tensors (torch 2.6+ defaults to True)
    ckpt = torch.load(os.path.join(run_dir, "ckpt.pt"), map_location="cpu", weights_only=False)
    cfg, progress = ckpt["config"], ckpt["progress"]
    if progress["phase"] != "main" or cfg["model"]["patching"]["threshold"] is None:
        sys.exit(f"{run_dir}: the run has not reached the main phase yet")
    mcfg = cfg["model"]
    model = BLT(mcfg)
    weights, averaged = ckpt["model"], None
    if average_from is not None:
        weights, averaged = tail_average(run_dir, progress["step"], weights, average_from)
        print(f"[export] weights: the mean of steps {averaged}", flush=True)
    model.load_state_dict(weights)
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    state = {k: v.float() for k, v in model.state_dict().items()}
    meta = metadata_for(mcfg)

    f32_path = os.path.join(out_dir, "model.safetensors")
    safetensors_io.save(f32_path, state, meta)
    q8_path = os.path.join(out_dir, "model.q8.safetensors")
    safetensors_io.save(q8_path, q8_state(model, state), {**meta, **Q8_METADATA})
    golden, golden_meta = golden_vectors(model)
    golden_path = os.path.join(out_dir, "golden.safetensors")
    safetensors_io.save(golden_path, golden, golden_meta)

    # Held-out test bits per byte (AR path) over non-overlapping windows of the test split.
    t0 = time.time()
    model.to(device)
    source_set = cfg.get("data", "v1")
    data_dir = os.path.join(corpus.ROOT, cfg["data_dir"]) if cfg.get("data_dir") else corpus.data_dir_for(source_set)
    test = corpus.load_split("test", data_dir, source_set)
    L = cfg["train"]["seq_len"]
    all_windows = (len(test) - 1) // L
    n_windows = all_windows if test_bytes is None else min(all_windows, max(1, test_bytes // L))
    import numpy as np
    from .objective import windows_at
    # a sample of the split's non-overlapping windows spread evenly over it (the split is ordered by source, so
    # its first windows are one corpus): window i of n is window floor(i * all / n); all of them when n = all
    tokens, targets = windows_at(test, test_window_indices(all_windows, n_windows) * L, L)
    batch = max(1, 16 * 512 // L)
    test_bpb, test_patch_len = evaluate_bpb(model, tokens, targets, batch, device)
    # the latent ablation (docs/design.md section 1): what the global model adds
    test_bpb_no_latents, _ = evaluate_bpb(model, tokens, targets, batch, device, zero_latents)
    test_bpb_shuffled, _ = evaluate_bpb(model, tokens, targets, max(2, batch), device, shuffled_latents)
    q8_model = BLT(mcfg)
    q8_model.load_state_dict(dequantize(safetensors_io.load(q8_path)[0]))
    q8_bpb, _ = evaluate_bpb(q8_model.to(device), tokens[:64], targets[:64], batch, device)
    f32_bpb_64, _ = evaluate_bpb(model, tokens[:64], targets[:64], batch, device)
    eval_seconds = time.time() - t0

    data_manifest = corpus.load_manifest(data_dir, source_set)
    files = {}
    for path in (f32_path, q8_path, golden_path):
        files[os.path.basename(path)] = {"bytes": os.path.getsize(path), "sha256": sha256_file(path)}
    parts = {k: count_params(getattr(model, k)) for k in
             ("entropy_model", "local_encoder", "global_transformer", "local_decoder")}
    manifest = {
        "name": os.path.basename(os.path.normpath(out_dir)),
        "format_version": FORMAT_VERSION,
        "files": files,
        "parameters": {"total": count_params(model), **parts},
        "corpus": data_manifest,
        "training": {
            "config": cfg.get("name"), "train": cfg["train"],
            "entropy_model_steps": progress["entropy_step"], "entropy_model_seconds": round(progress["entropy_seconds"], 1),
            "steps": progress["step"], "training_seconds": round(progress["train_seconds"], 1),
            "bytes_seen": progress["bytes_seen"], "hardware": ckpt.get("hardware", hardware()),
            # over every run that made these weights (resumed across sessions and machines)
            "total_steps": progress["step"],
            "total_seconds": round(progress["train_seconds"] + progress["entropy_seconds"], 1),
            "segments": progress.get("segments", []),
            **({"entropy_model_from": progress["entropy_from"]} if "entropy_from" in progress else {}),
            "objective": objective_text(cfg),
            **({"weight_average": {"steps": averaged, "note": "the exported weights are the mean of the weights "
                                    "at these steps (the tail of the schedule)"}} if averaged else {}),
        },
        "evaluation": {
            "test_bits_per_byte_ar": round(test_bpb, 4),
            "test_bits_per_byte_without_latents": round(test_bpb_no_latents, 4),
            "test_bits_per_byte_shuffled_latents": round(test_bpb_shuffled, 4),
            "test_bytes": int(targets.numel()),
            "test_windows": n_windows, "test_window_selection": "spread", "window_bytes": L,
            "mean_patch_length_test": round(test_patch_len, 3),
            "entropy_threshold_nats": mcfg["patching"]["threshold"],
            "mean_patch_length_validation_at_calibration": round(progress.get("calibrated_mean_patch_len", float("nan")), 3),
            "entropy_model_validation_bits_per_byte": round(progress.get("entropy_val_bpb", float("nan")), 4),
            "q8_bits_per_byte_first_64_windows": round(q8_bpb, 4),
            "f32_bits_per_byte_first_64_windows": round(f32_bpb_64, 4),
            "eval_seconds": round(eval_seconds, 1),
        },
        "command": "/usr/bin/python3 -m scripts.train.export " + " ".join(sys.argv[1:]),
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="training run directory, e.g. runs/small")
    ap.add_argument("--out", required=True, help="output directory, e.g. models/blt-d-small")
    ap.add_argument("--test-bytes", type=int, default=None, help="limit the test-set evaluation to this many bytes' worth of windows, spread evenly over the split (default: all)")
    ap.add_argument("--average-from", type=int, default=None, metavar="STEP",
                    help="export the mean of the run's weight snapshots from STEP on and its final weights "
                         "(train.snapshot_from_step makes the snapshots)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m = export(args.run, args.out, args.test_bytes, average_from=args.average_from)
    print(json.dumps({"files": m["files"], "evaluation": m["evaluation"],
                      "steps": m["training"]["steps"], "training_seconds": m["training"]["training_seconds"]}, indent=2))


if __name__ == "__main__":
    main()
