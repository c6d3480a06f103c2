"""Train a BLT-D model in three resumable phases: (1) the EntropyModel, (2) calibrate the global
entropy threshold on validation data to a mean patch length near the target, (3) the main model
(patches from the frozen entropy model) with L_AR + L_diff.

  /usr/bin/python3 -m scripts.train.train --config small            # start or resume runs/small
  /usr/bin/python3 -m scripts.train.train --config tiny --max-seconds 300
  python3 -m scripts.train.train --config gpu-9m --max-seconds 240 --time-schedule --bf16   # on a GPU
Re-running the same command resumes from runs/<name>/ckpt.pt (written atomically every few minutes).
"""
import argparse
import json
import math
import os
import platform
import random
import signal
import threading
import time

from . import cpu  # (importing it sets OpenMP/malloc behaviour before torch loads)
import numpy as np
import torch
import torch.nn.functional as F

from . import data as corpus
from .model import BLT, MASK_ID, NoisyBlocks, Patches, count_params, patch_starts
from .objective import NextBytesHead, bltd_loss, objective_weights, sample_windows, windows_at

ROOT = corpus.ROOT
CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def pick_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def merge(base, over):
    """Deep merge of config dicts: over's leaves replace base's."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def load_config(name):
    """A config file; one with "extends": "<name>" is that config with this file's keys merged in
    (ablation variants are small override files)."""
    path = name if name.endswith(".json") else os.path.join(CONFIG_DIR, name + ".json")
    with open(path) as f:
        cfg = json.load(f)
    parent = cfg.pop("extends", None)
    return merge(load_config(parent), cfg) if parent else cfg


def lr_at(step, tc, base_lr, progress=None):
    """Linear warmup, then cosine decay to min_lr_frac * base_lr at max_steps (or, given `progress`, at 1: the
    fraction of a fixed training time spent, --time-schedule)."""
    if step < tc["warmup_steps"]:
        return base_lr * (step + 1) / tc["warmup_steps"]
    if progress is None:
        progress = (step - tc["warmup_steps"]) / max(1, tc["max_steps"] - tc["warmup_steps"])
    progress = min(1.0, progress)
    return base_lr * (tc["min_lr_frac"] + (1 - tc["min_lr_frac"]) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(params_named, lr, weight_decay):
    """AdamW (0.9, 0.95); weight decay on linear matrices only (not embeddings or norms)."""
    decay, no_decay = [], []
    for name, p in params_named:
        (decay if p.dim() == 2 and "emb" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def hardware():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({model}), {torch.get_num_threads()} threads"
    malloc = "jemalloc" if cpu.jemalloc_loaded() else "glibc malloc"
    return f"{dev}; torch {torch.__version__}; {malloc}"


class RunningClock:
    """Monotonic seconds that exclude time the process spent stopped (SIGSTOP ... SIGCONT, e.g.
    paused during someone's benchmark): a daemon thread ticks every 0.25 s and books any gap
    longer than 2 s as stopped time. Step times measured with it count only running time."""

    def __init__(self, tick=0.25, gap=2.0):
        self.stopped = 0.0
        self._tick, self._gap = tick, gap
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        last = time.monotonic()
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            if now - last > self._tick + self._gap:
                self.stopped += now - last - self._tick
            last = now

    def now(self):
        return time.monotonic() - self.stopped


class Run:
    """Run directory state: checkpoint, config snapshot, JSONL log."""

    def __init__(self, run_dir):
        self.dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        self.ckpt_path = os.path.join(run_dir, "ckpt.pt")
        self.log_path = os.path.join(run_dir, "log.jsonl")

    def log(self, record):
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def save(self, state):
        tmp = self.ckpt_path + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.ckpt_path)
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(state["config"], f, indent=2)

    def load(self, device, resume_from=None):
        """The run's own checkpoint, else (resume_from) a committed compact one from another machine."""
        if os.path.exists(self.ckpt_path):
            return torch.load(self.ckpt_path, map_location=device)
        if resume_from and os.path.exists(os.path.join(resume_from, "ckpt.pt")):
            print(f"resuming from the committed state in {resume_from}", flush=True)
            return expand_state(torch.load(os.path.join(resume_from, "ckpt.pt"), map_location=device))
        return None


def save_snapshot(run_dir, model, step):
    """The weights alone at `step`, in <run>/snapshots/, for export's tail average (--average-from):
    train.snapshot_from_step and train.snapshot_every say when."""
    d = os.path.join(run_dir, "snapshots")
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, f"{step:06d}.pt.tmp")
    torch.save({"step": step, "model": model.state_dict()}, tmp)
    os.replace(tmp, tmp[:-4])


def compact_state(state):
    """A checkpoint small enough to commit: weights f32, AdamW moments in bf16 (a resumed run continues with
    moments rounded to bf16, which AdamW tolerates; the weights are exact)."""
    def opt(o):
        return {"param_groups": o["param_groups"],
                "state": {k: {n: (t.to(torch.bfloat16) if torch.is_tensor(t) and t.dim() > 0 else t)
                              for n, t in v.items()} for k, v in o["state"].items()}}
    return {**state, "optimizer": opt(state["optimizer"]), "entropy_optimizer": opt(state["entropy_optimizer"])}


def expand_state(state):
    def opt(o):
        return {"param_groups": o["param_groups"],
                "state": {k: {n: (t.float() if torch.is_tensor(t) and t.dtype == torch.bfloat16 else t)
                              for n, t in v.items()} for k, v in o["state"].items()}}
    return {**state, "optimizer": opt(state["optimizer"]), "entropy_optimizer": opt(state["entropy_optimizer"])}


def rng_state(rng):
    return {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state(), "python": random.getstate()}


def set_rng_state(rng, state):
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])


# ---------------------------------------------------------------------------------------------
# Evaluation helpers (also used by export)

@torch.no_grad()
def eval_windows(data, n, seq_len):
    """n evenly spaced windows over a split (deterministic)."""
    offsets = np.linspace(0, len(data) - seq_len - 1, n).astype(np.int64)
    return windows_at(data, offsets, seq_len)


@torch.no_grad()
def evaluate_bpb(model, tokens, targets, batch_size, device, latent_hook=None):
    """AR bits per byte over all positions of the given windows; also mean patch length.
    latent_hook=zero_latents gives the latent ablation (what the global model contributes)."""
    model.eval()
    nll, n, patch_bytes, n_patches = 0.0, 0, 0, 0
    for k in range(0, len(tokens), batch_size):
        tok, tgt = tokens[k:k + batch_size].to(device), targets[k:k + batch_size].to(device)
        is_start = model.patch(tok, with_next=True)
        out = model(tok, is_start, latent_hook=latent_hook)
        nll += F.cross_entropy(out["logits"].reshape(-1, 256).float(), tgt.reshape(-1), reduction="sum").item()
        n += tgt.numel()
        patch_bytes += tok.shape[0] * (tok.shape[1] - 1)
        n_patches += int(is_start[:, 1:tok.shape[1]].sum())
    model.train()
    return nll / n / math.log(2), patch_bytes / max(1, n_patches)


@torch.no_grad()
def masked_accuracy(model, tokens, targets, device, layout, block_size=8, per_window=16, seed=0):
    """Masked-byte accuracy of BLT-D's first denoising pass (all B bytes masked), argmax vs the true byte.
    layout "training": blocks at entropy patch starts (as in training); "inference": blocks right after a
    patch force-closed at a random non-boundary position, as BLT-D decodes (the committed text ends there)."""
    from .objective import force_cuts
    model.eval()
    rng = np.random.default_rng(seed)
    hit = n = 0
    for k in range(len(tokens)):
        tok = tokens[k:k + 1].to(device)
        L = tok.shape[1]
        is_start = model.patch(tok, with_next=True)
        if layout == "inference":
            is_start, cuts = force_cuts(is_start, L - block_size, per_window, rng, 1.0)
            at = cuts[0]
        else:
            at = rng.permutation(np.flatnonzero(is_start[0, 1:L - block_size].cpu().numpy()) + 1)[:per_window].tolist()
        if not at:
            continue
        patches = Patches(is_start[:, :L])
        m = len(at)
        pos = torch.tensor([[s + j for s in at for j in range(block_size)]], dtype=torch.long, device=device)
        blk = torch.arange(m, device=device).repeat_interleave(block_size)[None]
        st = torch.tensor(at, dtype=torch.long, device=device).repeat_interleave(block_size)[None]
        pat = patches.ids[0, st[0]][None]
        blocks = NoisyBlocks(torch.full_like(pos, MASK_ID), pos, blk, st, pat)
        out = model(tok, is_start, blocks)
        truth = torch.tensor([[int(targets[k, p - 1]) for p in pos[0].tolist()]], device=device)
        hit += int((out["noisy_logits"].argmax(-1) == truth).sum())
        n += truth.numel()
    model.train()
    return hit / max(1, n)


def zero_latents(latents):
    return torch.zeros_like(latents)


def shuffled_latents(latents):
    """Each window gets the next window's latents (batch rolled by one): the loss rises only if the decoder
    reads the latents' content, not just their presence (docs/notes/model-v2-runs.md)."""
    return latents.roll(1, 0)


@torch.no_grad()
def entropy_eval_bpb(entropy_model, tokens, targets, device):
    entropy_model.eval()
    logits = entropy_model(tokens.to(device))
    entropy_model.train()
    return F.cross_entropy(logits.reshape(-1, 256).float(), targets.to(device).reshape(-1)).item() / math.log(2)


@torch.no_grad()
def calibrate_threshold(entropy_model, tokens, max_patch_len, target_len, device):
    """Bisect theta so the mean patch length (bytes after BOS / patches after patch 0) on the
    given windows is as close as possible to target_len."""
    entropy_model.eval()
    H = torch.cat([entropy_model.entropies(tokens[k:k + 16].to(device)) for k in range(0, len(tokens), 16)])
    entropy_model.train()

    def mean_len(theta):
        s = patch_starts(H, theta, max_patch_len)
        return (H.shape[0] * (H.shape[1] - 1)) / float(s[:, 1:].sum())

    lo, hi = 0.0, float(H.max()) + 1e-3
    for _ in range(40):                       # mean length grows with theta
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_len(mid) < target_len else (lo, mid)
    theta = round((lo + hi) / 2, 6)
    return theta, mean_len(theta)


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="name in scripts/train/configs or a .json path")
    ap.add_argument("--run", help="run directory (default runs/<config name>)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop (with a checkpoint) once total main-phase training seconds reach this")
    ap.add_argument("--max-steps", type=int, default=None, help="override train.max_steps (also the cosine length)")
    ap.add_argument("--stop-at-step", type=int, default=None,
                    help="stop (with a checkpoint) at this step without changing the schedule (for forks)")
    ap.add_argument("--time-schedule", action="store_true",
                    help="the cosine decays over --max-seconds of main-phase training instead of train.max_steps "
                         "(a run of a fixed number of minutes on a machine of unknown speed)")
    ap.add_argument("--bf16", action="store_true",
                    help="bf16 autocast for the training forward passes (weights, optimizer and evaluation stay f32)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init-entropy-from", metavar="RUN_DIR",
                    help="take the trained entropy model and threshold from another run's checkpoint "
                         "(same entropy config) and start at the main phase")
    ap.add_argument("--text", nargs="+", metavar="PATH",
                    help="train on your own .txt/.md files or folders (built into <run>/data) instead of "
                         "the config's packaged corpus")
    ap.add_argument("--state", metavar="DIR",
                    help="a committed training state (e.g. train-state/v2): resume from it when the run directory "
                         "has no checkpoint, and write a compact copy of every checkpoint there")
    args = ap.parse_args()
    if args.time_schedule and not args.max_seconds:
        ap.error("--time-schedule needs --max-seconds")

    torch.set_num_threads(args.threads)
    device = pick_device()
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
    name = os.path.splitext(os.path.basename(args.config))[0]
    run = Run(args.run or os.path.join(ROOT, "runs", name))
    state = run.load(device, args.state)
    cfg = state["config"] if state else load_config(args.config)
    if state:
        # a resumed run keeps its model config; its training settings (schedule, objective weights) follow
        # the config file, so a change made there between segments takes effect and is printed
        file_tc = load_config(args.config)["train"]
        changed = {k: (cfg["train"].get(k), v) for k, v in file_tc.items() if cfg["train"].get(k) != v}
        if changed:
            print(f"[{name}] training settings changed on resume (old, new): {changed}", flush=True)
        cfg["train"] = {**cfg["train"], **file_tc}
    cfg["name"] = name
    if args.max_steps:
        cfg["train"]["max_steps"] = args.max_steps
    tc, mc = cfg["train"], cfg["model"]
    rng = np.random.default_rng(tc["seed"])
    torch.manual_seed(tc["seed"])

    source_set = cfg.get("data", "v1")
    data_dir = corpus.data_dir_for(source_set)
    if args.text:
        data_dir, source_set = os.path.join(run.dir, "data"), "user-text"
        if not os.path.exists(os.path.join(data_dir, "manifest.json")):
            corpus.build(data_dir, text_paths=args.text)
    cfg["data_dir"] = os.path.relpath(data_dir, ROOT)
    train_data = corpus.load_split("train", data_dir, source_set)
    val_data = corpus.load_split("val", data_dir, source_set)
    val_tokens, val_targets = eval_windows(val_data, tc["eval_windows"], tc["seq_len"])
    model = BLT(mc).to(device)
    print(f"[{name}] device {device}; params total {count_params(model)}, entropy model "
          f"{count_params(model.entropy_model)}; hardware {hardware()}", flush=True)

    st = {"phase": "entropy", "entropy_step": 0, "entropy_seconds": 0.0, "step": 0, "train_seconds": 0.0,
          "bytes_seen": 0}
    ent_opt = make_optimizer(model.entropy_model.named_parameters(), tc["entropy_lr"], tc["weight_decay"])
    main_params = [(n, p) for n, p in model.named_parameters() if not n.startswith("entropy_model.")]
    # training-only: the global model's next-bytes head (objective.NextBytesHead; not exported)
    aux_cfg = mc["global"].get("next_bytes_aux")
    aux_head = NextBytesHead(mc["global"]["dim"], aux_cfg["bytes"]).to(device) if aux_cfg else None
    if aux_head is not None:
        main_params += [("aux." + n, p) for n, p in aux_head.named_parameters()]
    opt = make_optimizer(main_params, tc["lr"], tc["weight_decay"])
    if state:
        model.load_state_dict(state["model"])
        if aux_head is not None:
            aux_head.load_state_dict(state["aux_head"])
        ent_opt.load_state_dict(state["entropy_optimizer"])
        opt.load_state_dict(state["optimizer"])
        set_rng_state(rng, state["rng"])
        st.update(state["progress"])
        print(f"[{name}] resumed: {st}", flush=True)
    elif args.init_entropy_from:
        src = torch.load(os.path.join(args.init_entropy_from, "ckpt.pt"), map_location=device)
        assert src["config"]["model"]["entropy"] == mc["entropy"], "entropy configs differ"
        assert src["progress"]["phase"] == "main", "that run's entropy model is not calibrated yet"
        model.entropy_model.load_state_dict({k[len("entropy_model."):]: v for k, v in src["model"].items()
                                             if k.startswith("entropy_model.")})
        mc["patching"]["threshold"] = src["config"]["model"]["patching"]["threshold"]
        for k in ("entropy_step", "entropy_seconds", "calibrated_mean_patch_len", "entropy_val_bpb"):
            st[k] = src["progress"][k]
        st["phase"] = "main"
        st["entropy_from"] = os.path.relpath(args.init_entropy_from, ROOT)
        print(f"[{name}] entropy model from {args.init_entropy_from}: threshold {mc['patching']['threshold']}", flush=True)

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # one segment per process: where it started and how far it got (the manifest sums them)
    segment = {"hardware": hardware(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "from_step": st["step"], "to_step": st["step"], "seconds": 0.0, "entropy_seconds": 0.0,
               # the settings that may change between segments (schedule length, objective weights, layout)
               "settings": {k: tc[k] for k in ("max_steps", "diffusion_weight", "next_bytes_weight",
                                               "patch_bound_fraction", "prefix_states", "diffusion_distill") if k in tc}}
    st.setdefault("segments", [])
    seconds_at_start, entropy_seconds_at_start = st["train_seconds"], st["entropy_seconds"]

    def checkpoint():
        segment.update(to_step=st["step"], seconds=round(st["train_seconds"] - seconds_at_start, 1),
                       entropy_seconds=round(st["entropy_seconds"] - entropy_seconds_at_start, 1))
        progress = {**st, "segments": st["segments"] + [dict(segment)]}
        state = {"config": cfg, "model": model.state_dict(), "entropy_optimizer": ent_opt.state_dict(),
                 **({"aux_head": aux_head.state_dict()} if aux_head is not None else {}),
                 "optimizer": opt.state_dict(), "rng": rng_state(rng), "progress": progress, "hardware": hardware()}
        run.save(state)
        if args.state:
            os.makedirs(args.state, exist_ok=True)
            tmp = os.path.join(args.state, "ckpt.pt.tmp")
            torch.save(compact_state(state), tmp)
            os.replace(tmp, os.path.join(args.state, "ckpt.pt"))

    clock = RunningClock()
    last_ckpt = time.time()
    B, L = tc["batch_size"], tc["seq_len"]

    # Phase 1: entropy model (next-byte loss only).
    while st["phase"] == "entropy" and not stop["flag"]:
        if st["entropy_step"] >= tc["entropy_steps"]:
            st["phase"] = "calibrate"
            break
        t0 = clock.now()
        for g in ent_opt.param_groups:
            g["lr"] = lr_at(st["entropy_step"], {**tc, "max_steps": tc["entropy_steps"], "warmup_steps": 50}, tc["entropy_lr"])
        tok, tgt = sample_windows(train_data, tc["entropy_batch_size"], L, rng)
        with autocast():
            logits = model.entropy_model(tok.to(device))
            loss = F.cross_entropy(logits.reshape(-1, 256).float(), tgt.to(device).reshape(-1))
        ent_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.entropy_model.parameters(), tc["grad_clip"])
        ent_opt.step()
        dt = clock.now() - t0
        st["entropy_step"] += 1
        st["entropy_seconds"] += dt
        if st["entropy_step"] % tc["log_every"] == 0:
            rec = {"phase": "entropy", "step": st["entropy_step"], "loss": loss.item(), "bpb": loss.item() / math.log(2),
                   "bytes_per_s": tok.numel() / dt, "seconds": st["entropy_seconds"]}
            if st["entropy_step"] % tc["eval_every"] == 0:
                rec["val_bpb"] = entropy_eval_bpb(model.entropy_model, val_tokens, val_targets, device)
            run.log(rec)
            print(f"entropy step {rec['step']:5d} | loss {rec['loss']:.4f} | bpb {rec['bpb']:.3f}"
                  + (f" | val bpb {rec['val_bpb']:.3f}" if "val_bpb" in rec else "")
                  + f" | {rec['bytes_per_s']:.0f} B/s | {rec['seconds']:.0f} s", flush=True)
        if time.time() - last_ckpt > tc["checkpoint_seconds"]:
            checkpoint()
            last_ckpt = time.time()

    # Phase 2: calibrate the global threshold on validation windows.
    if st["phase"] == "calibrate" and not stop["flag"]:
        p = mc["patching"]
        theta, mean_len = calibrate_threshold(model.entropy_model, val_tokens, p["max_patch_len"],
                                              p["target_mean_patch_len"], device)
        p["threshold"] = theta
        st["calibrated_mean_patch_len"] = mean_len
        st["entropy_val_bpb"] = entropy_eval_bpb(model.entropy_model, val_tokens, val_targets, device)
        st["phase"] = "main"
        run.log({"phase": "calibrate", "threshold": theta, "mean_patch_len": mean_len,
                 "entropy_val_bpb": st["entropy_val_bpb"]})
        print(f"[{name}] threshold {theta} nats -> mean patch length {mean_len:.3f} on validation", flush=True)
        checkpoint()
        last_ckpt = time.time()

    # Phase 3: main model, entropy model frozen.
    model.entropy_model.requires_grad_(False)
    diffusion = mc["diffusion"]["enabled"]
    diffusion_weight, next_bytes_weight = objective_weights(cfg)
    while st["phase"] == "main" and not stop["flag"]:
        if st["step"] >= tc["max_steps"] or (args.max_seconds and st["train_seconds"] >= args.max_seconds) \
                or (args.stop_at_step and st["step"] >= args.stop_at_step):
            break
        t0 = clock.now()
        lr = lr_at(st["step"], tc, tc["lr"], st["train_seconds"] / args.max_seconds if args.time_schedule else None)
        for g in opt.param_groups:
            g["lr"] = lr
        tok, tgt = sample_windows(train_data, B, L, rng)
        tok, tgt = tok.to(device), tgt.to(device)
        is_start = model.patch(tok, with_next=True)
        with autocast():
            loss, stats = bltd_loss(model, tok, tgt, is_start, rng, diffusion,
                                    (aux_head, next_bytes_weight) if aux_head is not None else None,
                                    tc.get("patch_bound_fraction", 0.0), diffusion_weight, tc.get("prefix_states", False),
                                    tc.get("diffusion_distill", 0.0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_([p for _, p in main_params], tc["grad_clip"])
        opt.step()
        dt = clock.now() - t0
        st["step"] += 1
        st["train_seconds"] += dt
        st["bytes_seen"] += tok.numel()
        if st["step"] % tc["log_every"] == 0 or st["step"] == 1:
            rec = {"phase": "main", "step": st["step"], "loss": loss.item(), "ar_bpb": stats["ar"] / math.log(2),
                   **{k: v for k, v in stats.items() if k != "ar"}, "lr": lr, "grad_norm": float(gnorm),
                   "bytes_per_s": tok.numel() / dt, "seconds": st["train_seconds"], "bytes_seen": st["bytes_seen"]}
            if st["step"] % tc["eval_every"] == 0 or st["step"] == tc["max_steps"]:
                rec["val_bpb"], rec["val_mean_patch_len"] = evaluate_bpb(model, val_tokens, val_targets, B, device)
                rec["val_bpb_without_latents"], _ = evaluate_bpb(model, val_tokens, val_targets, B, device, zero_latents)
                rec["val_bpb_shuffled_latents"], _ = evaluate_bpb(model, val_tokens, val_targets, B, device, shuffled_latents)
                if diffusion:
                    rec["val_masked_acc_training_layout"] = masked_accuracy(model, val_tokens[:4], val_targets[:4], device, "training")
                    rec["val_masked_acc_inference_layout"] = masked_accuracy(model, val_tokens[:4], val_targets[:4], device, "inference")
            run.log(rec)
            print(f"step {rec['step']:5d} | loss {rec['loss']:.4f} | ar bpb {rec['ar_bpb']:.3f}"
                  + (f" | diff {rec['diff']:.3f} acc {rec['diff_acc']:.3f} =ar {rec['diff_agree_ar']:.3f}" if diffusion else "")
                  + (f" | next bytes {rec['next_bytes']:.3f}" if "next_bytes" in rec else "")
                  + (f" | bounded ar bpb {rec['ar_bounded'] / math.log(2):.3f}" if "ar_bounded" in rec else "")
                  + (f" | val bpb {rec['val_bpb']:.3f} (no latents {rec['val_bpb_without_latents']:.3f}, "
                     f"shuffled {rec['val_bpb_shuffled_latents']:.3f})"
                     if "val_bpb" in rec else "")
                  + f" | lr {lr:.2e} | {rec['bytes_per_s']:.0f} B/s | {rec['seconds']:.0f} s", flush=True)
        if "snapshot_from_step" in tc and st["step"] >= tc["snapshot_from_step"] \
                and st["step"] % tc.get("snapshot_every", 100) == 0:
            save_snapshot(run.dir, model, st["step"])
        if time.time() - last_ckpt > tc["checkpoint_seconds"]:
            checkpoint()
            last_ckpt = time.time()

    checkpoint()
    print(f"[{name}] checkpoint saved at phase {st['phase']} step {st['step']} "
          f"({st['train_seconds']:.0f} training seconds)" + (" (stopped by signal)" if stop["flag"] else ""), flush=True)


if __name__ == "__main__":
    cpu.reexec_with_jemalloc()
    main()
