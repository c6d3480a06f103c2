"""Exports a model's AR decode step to ONNX for the decoding benchmark's ONNX peer: batch 1, f32,
explicit KV caches of `--ctx` slots indexed by position (bytes) or patch index (global), two graphs:

  byte_step.onnx    one byte at position `pos` of patch `patch`: entropy-model step (logits for byte pos+1),
                    local-encoder step (byte state h), local-decoder step (logits for byte pos+1)
  global_step.onnx  one completed patch: pooling of its byte states + global-transformer step, then the
                    decoder layers' cross-attention keys/values of its latent

Each graph reads whole caches and returns only the new rows (`*_new`); the caller writes them at slot
pos (or patch index). Masks and RoPE are computed in the graph from the position inputs. The JS driver
is scripts/bench/onnx-decode.ts; docs/model.md is the contract.

  /usr/bin/python3 -m scripts.bench.onnx_export --model models/blt-d-small --out .cache/onnx/blt-d-small
"""
import argparse
import json
import math
import os

from scripts.train import cpu  # noqa: F401  (thread/malloc settings; import before torch)
import torch
import torch.nn as nn
import torch.nn.functional as F

from scripts.train.export import load_model
from scripts.train.model import BOS_ID, ngram_hash_rows

NEG = torch.finfo(torch.float32).min


def rms(x, w, eps):
    """RMSNorm as x / sqrt(mean(x^2) + eps) * w: the pattern onnxruntime fuses into one node."""
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x, H2):
    """x (1, H2 * hd) -> per head [-x2, x1] (exact)."""
    x = x.view(H2, 2, -1)
    return torch.cat([-x[:, 1:], x[:, :1]], 1).view(1, -1)


def rope_freqs(d, H, base):
    """(2d,) angle per unit position for [q | k]: base^(-2i/hd) per head, as model.rope_cos_sin."""
    inv = 1.0 / (base ** (torch.arange(0, d // H, 2, dtype=torch.float32) / (d // H)))
    return torch.cat([inv, inv]).repeat(2 * H)


def rope(pos, freqs):
    """cos, sin (1, 2d) at position pos (1,) int64."""
    ang = pos.to(torch.float32)[:, None] * freqs
    return ang.cos(), ang.sin()


class Attn(nn.Module):
    """One row of self- or cross-attention against head-major caches kT (H, hd, ctx), v (H, ctx, hd)."""

    def __init__(self, mod, H, self_attn):
        super().__init__()
        self.H, self.self_attn = H, self_attn
        d = mod.wq.weight.shape[0]
        self.d, self.hd = d, d // H
        ws = [mod.wq.weight, mod.wk.weight, mod.wv.weight] if self_attn else [mod.wq.weight]   # x -> [q | k | v]
        self.w_in = nn.Parameter(torch.cat(ws).t().contiguous())
        self.w_out = nn.Parameter(mod.wo.weight.t().contiguous())

    def forward(self, xn, kT, v, bias, cos_sin=None, gate=None):
        """bias (ctx [+1]) additive mask; returns output (1, d) and for self-attention the new row (2, d)."""
        H, d, hd = self.H, self.d, self.hd
        y = xn @ self.w_in
        if not self.self_attn:
            q = y.view(H, 1, hd)
            s = (q @ kT) / math.sqrt(hd) + bias
            o = (s.softmax(-1) @ v) * gate
            return o.reshape(1, d) @ self.w_out, None
        cos, sin = cos_sin
        qk = y[:, :2 * d] * cos + rotate_half(y[:, :2 * d], 2 * H) * sin      # RoPE on q and k
        q, k, vn = qk[:, :d].view(H, 1, hd), qk[:, d:].view(H, 1, hd), y[:, 2 * d:].view(H, 1, hd)
        s = torch.cat([q @ kT, (q * k).sum(-1, keepdim=True)], -1) / math.sqrt(hd) + bias
        p = s.softmax(-1)
        o = p[:, :, :-1] @ v + p[:, :, -1:] * vn
        return o.reshape(1, d) @ self.w_out, torch.cat([qk[:, d:], y[:, 2 * d:]])


class FFN(nn.Module):
    def __init__(self, ffn):
        super().__init__()
        self.F = ffn.w1.weight.shape[0]
        self.w13 = nn.Parameter(torch.cat([ffn.w1.weight, ffn.w3.weight]).t().contiguous())
        self.w2 = nn.Parameter(ffn.w2.weight.t().contiguous())

    def forward(self, x):
        y = x @ self.w13                                        # [w1 x | w3 x]
        return (F.silu(y[:, :self.F]) * y[:, self.F:]) @ self.w2


class Layer(nn.Module):
    """Pre-norm transformer layer on one row (optionally with a decoder's cross-attention first)."""

    def __init__(self, layer, H, eps, cross=False):
        super().__init__()
        self.eps, self.cross = eps, cross
        self.attn_norm, self.ffn_norm = layer.attn_norm.weight, layer.ffn_norm.weight
        self.attn, self.ffn = Attn(layer.attn, H, True), FFN(layer.ffn)
        if cross:
            self.cross_norm, self.cross_attn = layer.cross_norm.weight, Attn(layer.cross_attn, H, False)

    def forward(self, x, kT, v, bias, cos_sin, cross=None):
        if self.cross:
            x = x + self.cross_attn(rms(x, self.cross_norm, self.eps), *cross)[0]
        a, row = self.attn(rms(x, self.attn_norm, self.eps), kT, v, bias, cos_sin)
        x = x + a
        return x + self.ffn(rms(x, self.ffn_norm, self.eps)), row


def window_bias(pos, ctx, window):
    """Additive mask over cache slots 0..ctx-1 plus the row itself: slot j visible iff j < pos, pos - j < window."""
    j = torch.arange(ctx)
    allowed = j < pos if window is None else (j < pos) & (pos - j < window)
    zero = torch.zeros(1)
    return torch.cat([torch.where(allowed, zero, zero + NEG), zero])


class ByteStep(nn.Module):
    """token, ngram_rows, pos, patch + caches -> entropy_logits, h, logits + new cache rows (layers, 2, d)."""

    def __init__(self, model, ctx):
        super().__init__()
        cfg, eps = model.cfg, model.cfg["norm_eps"]
        em, enc, dec = model.entropy_model, model.local_encoder, model.local_decoder
        e, loc = cfg["entropy"], cfg["local"]
        self.eps, self.ctx, self.ew, self.lw = eps, ctx, e["window"], loc["window"]
        self.e_emb, self.e_norm, self.e_head = em.tok_emb.weight, em.norm.weight, em.head.weight.t().contiguous()
        self.e_layers = nn.ModuleList(Layer(l, e["n_heads"], eps) for l in em.layers)
        self.e_rope = rope_freqs(e["dim"], e["n_heads"], cfg["rope_base"])
        self.tok_emb = enc.tok_emb.weight
        self.ngram = torch.cat([enc.ngram_emb[str(n)].weight for n in cfg["ngram"]["sizes"]])
        self.ngram_offset = torch.tensor([0] + cfg["ngram"]["table_sizes"][:-1]).cumsum(0)
        self.x_layers = nn.ModuleList(Layer(l, loc["n_heads"], eps) for l in enc.layers)
        self.l_rope = rope_freqs(loc["dim"], loc["n_heads"], cfg["rope_base"])
        self.d_layers = nn.ModuleList(Layer(l, loc["n_heads"], eps, cross=True) for l in dec.layers)
        self.d_norm, self.d_head = dec.norm.weight, dec.head.weight.t().contiguous()

    def forward(self, token, ngram_rows, pos, patch, entropy_k, entropy_v, encoder_k, encoder_v,
                decoder_k, decoder_v, cross_k, cross_v):
        ctx = self.ctx
        x, cs, bias, ent = self.e_emb[token], rope(pos, self.e_rope), window_bias(pos, ctx, self.ew), []
        for l, layer in enumerate(self.e_layers):
            x, row = layer(x, entropy_k[l], entropy_v[l], bias, cs)
            ent.append(row)
        entropy_logits = rms(x, self.e_norm, self.eps) @ self.e_head
        h = self.tok_emb[token] + self.ngram[ngram_rows + self.ngram_offset].sum(0, keepdim=True)
        cs, bias, enc, dec = rope(pos, self.l_rope), window_bias(pos, ctx, self.lw), [], []
        for l, layer in enumerate(self.x_layers):
            h, row = layer(h, encoder_k[l], encoder_v[l], bias, cs)
            enc.append(row)
        j = torch.arange(ctx)                                      # latents of earlier patches only
        cbias, gate = torch.where(j < patch, torch.zeros(1), torch.zeros(1) + NEG), (patch > 0).to(torch.float32)
        x = h
        for l, layer in enumerate(self.d_layers):
            x, row = layer(x, decoder_k[l], decoder_v[l], bias, cs, (cross_k[l], cross_v[l], cbias, None, gate))
            dec.append(row)
        logits = rms(x, self.d_norm, self.eps) @ self.d_head
        return entropy_logits, h, logits, torch.stack(ent), torch.stack(enc), torch.stack(dec)


class GlobalStep(nn.Module):
    """patch_states (M, dl) zero-padded, patch_len, patch_index + global caches -> latent, new rows."""

    def __init__(self, model, ctx):
        super().__init__()
        cfg, eps = model.cfg, model.cfg["norm_eps"]
        pool, g, dec = model.local_encoder.pooling, model.global_transformer, model.local_decoder
        self.eps, self.ctx, self.H, self.dl = eps, ctx, cfg["pooling"]["n_heads"], cfg["local"]["dim"]
        self.q_norm, self.kv_norm = pool.query_norm.weight, pool.kv_norm.weight
        a = pool.attn
        self.wq, self.wkv = a.wq.weight.t().contiguous(), torch.cat([a.wk.weight, a.wv.weight]).t().contiguous()
        self.wo, self.proj = a.wo.weight.t().contiguous(), pool.proj.weight.t().contiguous()
        self.layers = nn.ModuleList(Layer(l, cfg["global"]["n_heads"], eps) for l in g.layers)
        self.rope = rope_freqs(cfg["global"]["dim"], cfg["global"]["n_heads"], cfg["rope_base"])
        self.norm = g.norm.weight
        self.cross = torch.cat([torch.cat([l.cross_attn.wk.weight, l.cross_attn.wv.weight]) for l in dec.layers]).t().contiguous()
        self.cross_shape = (len(dec.layers), 2, cfg["local"]["dim"])

    def forward(self, patch_states, patch_len, patch_index, global_k, global_v):
        M, dl, H = patch_states.shape[0], self.dl, self.H
        hd = dl // H
        valid = torch.arange(M) < patch_len
        q0 = torch.where(valid[:, None], patch_states, torch.zeros(1) + NEG).amax(0, keepdim=True)   # (1, dl)
        q = (rms(q0, self.q_norm, self.eps) @ self.wq).view(H, 1, hd)
        kv = rms(patch_states, self.kv_norm, self.eps) @ self.wkv                              # (M, 2 dl)
        k, v = kv[:, :dl].reshape(M, H, hd).permute(1, 2, 0), kv[:, dl:].reshape(M, H, hd).transpose(0, 1)
        s = (q @ k) / math.sqrt(hd) + torch.where(valid, torch.zeros(1), torch.zeros(1) + NEG)
        x = ((s.softmax(-1) @ v).reshape(1, dl) @ self.wo + q0) @ self.proj                     # (1, dg)
        cs, bias, rows = rope(patch_index, self.rope), window_bias(patch_index, self.ctx, None), []
        for l, layer in enumerate(self.layers):
            x, row = layer(x, global_k[l], global_v[l], bias, cs)
            rows.append(row)
        latent = rms(x, self.norm, self.eps)
        return latent, torch.stack(rows), (latent @ self.cross).view(self.cross_shape)


def caches(cfg, ctx):
    """Cache groups -> (layers, heads, head dim). Each group is two inputs: <name>_k (L, H, hd, ctx), the keys
    (after RoPE) transposed, and <name>_v (L, H, ctx, hd); slot = byte position (patch index: global, cross)."""
    e, loc, g = cfg["entropy"], cfg["local"], cfg["global"]
    lh = (loc["n_heads"], loc["dim"] // loc["n_heads"])
    groups = {"entropy": (e["n_layers"], e["n_heads"], e["dim"] // e["n_heads"]), "encoder": (loc["n_encoder_layers"], *lh),
              "decoder": (loc["n_decoder_layers"], *lh), "cross": (loc["n_decoder_layers"], *lh),
              "global": (g["n_layers"], g["n_heads"], g["dim"] // g["n_heads"])}
    tensors = {}
    for name, (L, H, hd) in groups.items():
        tensors[f"{name}_k"], tensors[f"{name}_v"] = torch.zeros(L, H, hd, ctx), torch.zeros(L, H, ctx, hd)
    return groups, tensors


def put(kv, name, rows, slot):
    """rows (L, 2, H * hd) = [k, v] -> the caches of group name at slot (what the JS driver does)."""
    k, v = kv[f"{name}_k"], kv[f"{name}_v"]
    L, H, hd, _ = k.shape
    k[:, :, :, slot], v[:, :, slot, :] = rows[:, 0].view(L, H, hd), rows[:, 1].view(L, H, hd)


@torch.no_grad()
def step_decode(model, byte_step, global_step, tokens, ctx):
    """Runs the two steps over tokens (BOS first) exactly as the JS driver does; returns the decoder
    logits (L, 256), entropies H (L,) and patch starts, for comparison with the full forward."""
    cfg = model.cfg
    theta, M, dl, kv = cfg["patching"]["threshold"], cfg["patching"]["max_patch_len"], cfg["local"]["dim"], caches(cfg, ctx)[1]
    hs, starts, n_lat, H, out = [], [], 0, [0.0], []
    ngram = [ngram_hash_rows(torch.tensor([tokens]), n, t)[0] for n, t in zip(cfg["ngram"]["sizes"], cfg["ngram"]["table_sizes"])]
    for pos, tok in enumerate(tokens):
        if pos <= 1 or H[pos] > theta or pos - starts[-1] >= M:
            starts.append(pos)
        patch = len(starts) - 1
        while n_lat < patch:
            a, b = starts[n_lat], starts[n_lat + 1]
            st = torch.cat([torch.stack(hs[a:b]), torch.zeros(M - (b - a), dl)])
            _, grow, cross = global_step(st, torch.tensor([b - a]), torch.tensor([n_lat]), kv["global_k"], kv["global_v"])
            put(kv, "global", grow, n_lat), put(kv, "cross", cross, n_lat)
            n_lat += 1
        rows = torch.tensor([int(r[pos]) for r in ngram])
        el, h, logits, er, xr, dr = byte_step(torch.tensor([tok]), rows, torch.tensor([pos]), torch.tensor([patch]),
                                              *(kv[f"{g}_{t}"] for g in ("entropy", "encoder", "decoder", "cross") for t in "kv"))
        for name, rows in (("entropy", er), ("encoder", xr), ("decoder", dr)):
            put(kv, name, rows, pos)
        logp = el[0].log_softmax(-1)
        H.append(float(-(logp.exp() * logp).sum()))
        hs.append(h[0]), out.append(logits[0])
    return torch.stack(out), torch.tensor(H[:len(tokens)]), starts


@torch.no_grad()
def check(model, byte_step, global_step, ctx, text):
    """The step graphs (as torch modules) against the model's full forward on one text."""
    tokens = [BOS_ID] + list(text.encode("utf-8"))
    logits, H, starts = step_decode(model, byte_step, global_step, tokens, ctx)
    ref = model(t := torch.tensor([tokens]), model.patch(t))
    ref_starts = ref["patches"].starts[0, :int(ref["patches"].count[0])].tolist()
    dl = (logits - ref["logits"][0]).abs().max().item()
    dh = (H - model.entropy_model.entropies(t)[0]).abs().max().item()
    print(f"check: {len(tokens)} tokens, {len(starts)} patches, max |Δlogits| {dl:.2e}, max |ΔH| {dh:.2e}")
    assert starts == ref_starts, (starts, ref_starts)
    assert dl < 1e-4 and dh < 1e-4


@torch.no_grad()
def export(model, byte_step, global_step, ctx, out):
    os.makedirs(out, exist_ok=True)
    cfg = model.cfg
    groups, kv = caches(cfg, ctx)
    n_sizes, M, dl = len(cfg["ngram"]["sizes"]), cfg["patching"]["max_patch_len"], cfg["local"]["dim"]
    i64 = lambda: torch.zeros(1, dtype=torch.long)
    byte_in = {"token": i64(), "ngram_rows": torch.zeros(n_sizes, dtype=torch.long), "pos": i64(), "patch": i64(),
               **{f"{g}_{t}": kv[f"{g}_{t}"] for g in ("entropy", "encoder", "decoder", "cross") for t in "kv"}}
    byte_out = ["entropy_logits", "h", "logits", "entropy_kv_new", "encoder_kv_new", "decoder_kv_new"]
    glob_in = {"patch_states": torch.zeros(M, dl), "patch_len": i64() + 1, "patch_index": i64(),
               "global_k": kv["global_k"], "global_v": kv["global_v"]}
    glob_out = ["latent", "global_kv_new", "cross_kv_new"]
    graphs, dtype = {}, lambda v: "int64" if v.dtype == torch.long else "float32"
    for name, mod, ins, outs in (("byte_step", byte_step, byte_in, byte_out), ("global_step", global_step, glob_in, glob_out)):
        path = os.path.join(out, f"{name}.onnx")
        torch.onnx.export(mod, tuple(ins.values()), path, input_names=list(ins), output_names=outs,
                          opset_version=17, do_constant_folding=True)
        results = mod(*ins.values())
        graphs[name] = {"file": f"{name}.onnx", "inputs": {k: [dtype(v), list(v.shape)] for k, v in ins.items()},
                        "outputs": {k: [dtype(r), list(r.shape)] for k, r in zip(outs, results)}}
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    meta = {"format": "bltedge-onnx-ar-2", "ctx": ctx, "bos": BOS_ID, "vocab_out": 256,
            "threshold": cfg["patching"]["threshold"], "max_patch_len": M, "ngram": cfg["ngram"],
            "dims": {"entropy": cfg["entropy"]["dim"], "local": dl, "global": cfg["global"]["dim"]},
            "caches": {k: {"layers": L, "heads": H, "head_dim": hd} for k, (L, H, hd) in groups.items()},
            "cache_layout": "<name>_k (layers, heads, head_dim, ctx) keys after RoPE, transposed; <name>_v (layers, heads, ctx, head_dim); "
                            "*_kv_new (layers, 2, heads*head_dim) = [k, v] rows to write at slot pos (patch index for global, cross)",
            "graphs": graphs, "config": cfg}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/blt-d-small")
    ap.add_argument("--out", default=".cache/onnx/blt-d-small")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--no-check", action="store_true", help="skip the step-vs-full-forward check in torch")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, _ = load_model(os.path.join(args.model, "model.safetensors"))
    with torch.no_grad():
        byte_step, global_step = ByteStep(model, args.ctx), GlobalStep(model, args.ctx)
    if not args.no_check:       # 221 bytes: past the local window of 128
        check(model, byte_step, global_step, args.ctx, "It recommended that Fulton legislators act \"to have these laws "
              "studied\". The quick brown fox jumps over the lazy dog. Hello, world! BLT-D fills blocks of bytes; "
              "the entropy model places the patches, café naïve résumé.")
    export(model, byte_step, global_step, args.ctx, args.out)


if __name__ == "__main__":
    main()
