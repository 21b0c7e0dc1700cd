#!/usr/bin/python3
"""Writes small golden cases for every architecture under test/goldens/ so that the TypeScript
tests need no Python.  Run with Debian's python3 and PyTorch 1.13 / torchvision 0.14:

    bash scripts/setup-python.sh && /usr/bin/python3 scripts/goldens/make_goldens.py

Hugging Face `transformers` is not available here, so WhisperEncoder, SiglipVisionTransformer and
Qwen2ForCausalLM are re-implemented below, following HF's modeling code line by line and using
HF's parameter names (the state_dict keys are those of a real checkpoint).  The face encoder is
torchvision's own `SwinTransformer` plus FaceXFormer's multi-scale fusion, written as FaceXFormer
writes it (forward hooks on backbone.0.1/3/5/7).  `omni-emotion` composes these modules as the
project's model does (LLaVA-NeXT's visual path and splice, HumanOmni's audio path, the face path,
the three fusion variants, the causal-LM loss), under the parameter paths of omniParams.

Every case directory holds config.json, weights.safetensors, inputs.safetensors and
outputs.safetensors, and for omni-emotion also loss.safetensors (see scripts/goldens/README.md).
Everything is computed in float64 from the float32 values that are stored, then stored as float32.
"""
import json
import math
import os
import platform
import shutil
import struct
import sys
import zlib
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import swin_transformer as tv_swin

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "goldens")
CHECKS = []  # (name, value, tolerance) from the sanity checks, reported in MANIFEST.json


# --------------------------------------------------------------------------------------------
# safetensors (the `safetensors` package is not available: a small writer and reader)
# --------------------------------------------------------------------------------------------
_NP2ST = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("int32"): "I32",
          np.dtype("int64"): "I64"}
_ST2NP = {v: k for k, v in _NP2ST.items()}


def write_safetensors(path, tensors, metadata=None):
    """u64 little-endian header length, JSON header (padded with spaces to 8 bytes), data."""
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr).reshape(np.shape(arr))  # keeps a 0-d array (a scalar loss) 0-d
        if arr.dtype not in _NP2ST:
            raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NP2ST[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = OrderedDict()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        dt = _ST2NP[e["dtype"]].newbyteorder("<")
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=dt).reshape(e["shape"])
    assert base + max([e["data_offsets"][1] for k, e in header.items() if k != "__metadata__"] + [0]) == len(raw)
    return out


# --------------------------------------------------------------------------------------------
# Whisper encoder (transformers/models/whisper/modeling_whisper.py: WhisperEncoder, eager path)
# --------------------------------------------------------------------------------------------
def sinusoids(length, channels, max_timescale=10000):
    """HF `sinusoids`, verbatim (computed in float32, as HF does at init)."""
    if channels % 2 != 0:
        raise ValueError("channels must be even")
    log_timescale_increment = math.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length).view(-1, 1) * inv_timescales.view(1, -1)
    return torch.cat([scaled_time.sin(), scaled_time.cos()], dim=1)


class WhisperAttention(nn.Module):
    def __init__(self, embed_dim, num_heads):
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        assert self.head_dim * num_heads == embed_dim
        self.scaling = self.head_dim ** -0.5
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=True)
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=True)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=True)

    def _shape(self, t, seq_len, bsz):
        return t.view(bsz, seq_len, self.num_heads, self.head_dim).transpose(1, 2).contiguous()

    def forward(self, hidden_states):
        bsz, tgt_len, _ = hidden_states.size()
        query_states = self.q_proj(hidden_states) * self.scaling
        key_states = self._shape(self.k_proj(hidden_states), -1, bsz)
        value_states = self._shape(self.v_proj(hidden_states), -1, bsz)
        proj_shape = (bsz * self.num_heads, -1, self.head_dim)
        query_states = self._shape(query_states, tgt_len, bsz).view(*proj_shape)
        key_states = key_states.reshape(*proj_shape)
        value_states = value_states.reshape(*proj_shape)
        attn_weights = torch.bmm(query_states, key_states.transpose(1, 2))
        attn_weights = F.softmax(attn_weights, dim=-1)
        attn_output = torch.bmm(attn_weights, value_states)
        attn_output = attn_output.view(bsz, self.num_heads, tgt_len, self.head_dim).transpose(1, 2)
        attn_output = attn_output.reshape(bsz, tgt_len, self.embed_dim)
        return self.out_proj(attn_output)


class WhisperEncoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.self_attn = WhisperAttention(d, cfg["encoder_attention_heads"])
        self.self_attn_layer_norm = nn.LayerNorm(d)  # eps 1e-5 (nn.LayerNorm default)
        assert cfg["activation_function"] == "gelu"
        self.fc1 = nn.Linear(d, cfg["encoder_ffn_dim"])
        self.fc2 = nn.Linear(cfg["encoder_ffn_dim"], d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, hidden_states):
        residual = hidden_states
        hidden_states = self.self_attn_layer_norm(hidden_states)
        hidden_states = residual + self.self_attn(hidden_states)
        residual = hidden_states
        hidden_states = self.final_layer_norm(hidden_states)
        hidden_states = F.gelu(self.fc1(hidden_states))  # ACT2FN["gelu"]: exact erf GELU
        hidden_states = self.fc2(hidden_states)
        return residual + hidden_states


class WhisperEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.max_source_positions = cfg["max_source_positions"]
        self.conv1 = nn.Conv1d(cfg["num_mel_bins"], d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(self.max_source_positions, d)
        with torch.no_grad():
            self.embed_positions.weight.copy_(sinusoids(self.max_source_positions, d))
        self.layers = nn.ModuleList([WhisperEncoderLayer(cfg) for _ in range(cfg["encoder_layers"])])
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, input_features):
        inputs_embeds = F.gelu(self.conv1(input_features))
        inputs_embeds = F.gelu(self.conv2(inputs_embeds))
        inputs_embeds = inputs_embeds.permute(0, 2, 1)
        # HF requires T == 2 * max_source_positions and adds the whole table; a shorter input
        # (the project supports it) adds the first T' rows.
        t = inputs_embeds.shape[1]
        assert t <= self.max_source_positions
        hidden_states = inputs_embeds + self.embed_positions.weight[:t]
        for layer in self.layers:
            hidden_states = layer(hidden_states)
        return self.layer_norm(hidden_states)


# --------------------------------------------------------------------------------------------
# SigLIP vision (transformers/models/siglip/modeling_siglip.py: SiglipVisionTransformer)
# --------------------------------------------------------------------------------------------
def act_fn(name):
    if name == "gelu_pytorch_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu
    if name == "silu":
        return F.silu
    raise ValueError(name)


class SiglipVisionEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.patch_embedding = nn.Conv2d(cfg["num_channels"], d, kernel_size=cfg["patch_size"],
                                         stride=cfg["patch_size"], padding="valid")
        self.num_patches = (cfg["image_size"] // cfg["patch_size"]) ** 2
        self.position_embedding = nn.Embedding(self.num_patches, d)
        self.register_buffer("position_ids", torch.arange(self.num_patches).expand((1, -1)), persistent=False)

    def forward(self, pixel_values):
        patch_embeds = self.patch_embedding(pixel_values)
        embeddings = patch_embeds.flatten(2).transpose(1, 2)
        return embeddings + self.position_embedding(self.position_ids)


class SiglipAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_dim = cfg["hidden_size"]
        self.num_heads = cfg["num_attention_heads"]
        self.head_dim = self.embed_dim // self.num_heads
        assert self.head_dim * self.num_heads == self.embed_dim
        self.scale = self.head_dim ** -0.5
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim)

    def forward(self, hidden_states):
        b, q_len, _ = hidden_states.size()
        q = self.q_proj(hidden_states).view(b, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden_states).view(b, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden_states).view(b, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        attn_weights = torch.matmul(q, k.transpose(2, 3)) * self.scale
        # HF upcasts the softmax to float32; here everything is float64 already.
        attn_weights = F.softmax(attn_weights, dim=-1)
        out = torch.matmul(attn_weights, v).transpose(1, 2).contiguous().reshape(b, q_len, self.embed_dim)
        return self.out_proj(out)


class SiglipMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.activation_fn = act_fn(cfg["hidden_act"])
        self.fc1 = nn.Linear(cfg["hidden_size"], cfg["intermediate_size"])
        self.fc2 = nn.Linear(cfg["intermediate_size"], cfg["hidden_size"])

    def forward(self, x):
        return self.fc2(self.activation_fn(self.fc1(x)))


class SiglipEncoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.self_attn = SiglipAttention(cfg)
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.mlp = SiglipMLP(cfg)
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, hidden_states):
        residual = hidden_states
        hidden_states = residual + self.self_attn(self.layer_norm1(hidden_states))
        residual = hidden_states
        return residual + self.mlp(self.layer_norm2(hidden_states))


class SiglipEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList([SiglipEncoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])

    def forward(self, inputs_embeds):
        """Returns HF's `hidden_states` tuple: (embeddings, out of layer 1, ..., out of layer N)."""
        states = [inputs_embeds]
        h = inputs_embeds
        for layer in self.layers:
            h = layer(h)
            states.append(h)
        return states


class SiglipMultiheadAttentionPoolingHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.probe = nn.Parameter(torch.randn(1, 1, d))
        self.attention = nn.MultiheadAttention(d, cfg["num_attention_heads"], batch_first=True)
        self.layernorm = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])
        self.mlp = SiglipMLP(cfg)


class SiglipVisionTransformer(nn.Module):
    """Output: `last_hidden_state` (post_layernorm of the last layer), or with the project's
    config extension `vision_feature_layer` = k: HF's `hidden_states[k]` (no post_layernorm),
    as LLaVA-OneVision selects its image features."""

    def __init__(self, cfg):
        super().__init__()
        self.embeddings = SiglipVisionEmbeddings(cfg)
        self.encoder = SiglipEncoder(cfg)
        self.post_layernorm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])
        if cfg.get("vision_use_head", True):
            self.head = SiglipMultiheadAttentionPoolingHead(cfg)  # loaded; not on the output path
        self.feature_layer = cfg.get("vision_feature_layer")

    def forward(self, pixel_values):
        states = self.encoder(self.embeddings(pixel_values))
        if self.feature_layer is not None:
            return states[self.feature_layer]
        return self.post_layernorm(states[-1])


# --------------------------------------------------------------------------------------------
# Qwen2 (transformers/models/qwen2/modeling_qwen2.py: Qwen2ForCausalLM, eager attention)
# --------------------------------------------------------------------------------------------
class Qwen2RMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        # HF computes in float32 and casts back before `weight *`; float64 here.
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


class Qwen2RotaryEmbedding(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim = cfg["hidden_size"] // cfg["num_attention_heads"]
        base = cfg["rope_theta"]
        # HF: 1 / base ** (arange(0, dim, 2).float() / dim), in float32; float64 here.
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(torch.float64) / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x, position_ids):
        inv = self.inv_freq.to(torch.float64)[None, :, None].expand(position_ids.shape[0], -1, 1)
        freqs = (inv @ position_ids[:, None, :].to(torch.float64)).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


class Qwen2Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.head_dim = h // cfg["num_attention_heads"]
        self.num_key_value_groups = cfg["num_attention_heads"] // cfg["num_key_value_heads"]
        self.scaling = self.head_dim ** -0.5
        self.q_proj = nn.Linear(h, cfg["num_attention_heads"] * self.head_dim, bias=True)
        self.k_proj = nn.Linear(h, cfg["num_key_value_heads"] * self.head_dim, bias=True)
        self.v_proj = nn.Linear(h, cfg["num_key_value_heads"] * self.head_dim, bias=True)
        self.o_proj = nn.Linear(cfg["num_attention_heads"] * self.head_dim, h, bias=False)

    def forward(self, hidden_states, position_embeddings, attention_mask):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        q = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        k = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        v = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        cos, sin = position_embeddings
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k = repeat_kv(k, self.num_key_value_groups)
        v = repeat_kv(v, self.num_key_value_groups)
        attn_weights = torch.matmul(q, k.transpose(2, 3)) * self.scaling
        attn_weights = attn_weights + attention_mask
        attn_weights = F.softmax(attn_weights, dim=-1)
        out = torch.matmul(attn_weights, v).transpose(1, 2).contiguous()
        return self.o_proj(out.reshape(*input_shape, -1).contiguous())


class Qwen2MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)
        self.act_fn = act_fn(cfg["hidden_act"])

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class Qwen2DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = Qwen2Attention(cfg)
        self.mlp = Qwen2MLP(cfg)
        self.input_layernorm = Qwen2RMSNorm(cfg["hidden_size"], eps=cfg["rms_norm_eps"])
        self.post_attention_layernorm = Qwen2RMSNorm(cfg["hidden_size"], eps=cfg["rms_norm_eps"])

    def forward(self, hidden_states, attention_mask, position_embeddings):
        residual = hidden_states
        hidden_states = self.self_attn(self.input_layernorm(hidden_states), position_embeddings, attention_mask)
        hidden_states = residual + hidden_states
        residual = hidden_states
        return residual + self.mlp(self.post_attention_layernorm(hidden_states))


class Qwen2Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"], cfg.get("pad_token_id"))
        self.layers = nn.ModuleList([Qwen2DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = Qwen2RMSNorm(cfg["hidden_size"], eps=cfg["rms_norm_eps"])
        self.rotary_emb = Qwen2RotaryEmbedding(cfg)

    def forward(self, input_ids=None, inputs_embeds=None):
        # HF: exactly one of input_ids / inputs_embeds (LLaVA passes the spliced inputs_embeds)
        assert (input_ids is None) != (inputs_embeds is None)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        b, l = inputs_embeds.shape[:2]
        position_ids = torch.arange(l).unsqueeze(0).expand(b, -1)
        # create_causal_mask: 0 where key <= query, dtype-min elsewhere (-inf has the same effect)
        mask = torch.full((l, l), float("-inf"), dtype=inputs_embeds.dtype).triu(1)[None, None]
        position_embeddings = self.rotary_emb(inputs_embeds, position_ids)
        h = inputs_embeds
        for layer in self.layers:
            h = layer(h, mask, position_embeddings)
        return self.norm(h)


class Qwen2ForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.model = Qwen2Model(cfg)
        self.tied = bool(cfg["tie_word_embeddings"])
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def forward(self, input_ids=None, inputs_embeds=None):
        h = self.model(input_ids, inputs_embeds)
        weight = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return F.linear(h, weight)


# --------------------------------------------------------------------------------------------
# FaceXFormer encoder: torchvision SwinTransformer + FaceXFormer's fusion (network/models/facexformer.py)
# --------------------------------------------------------------------------------------------
class FaceXFormerMLP(nn.Module):
    def __init__(self, input_dim, out_dim):
        super().__init__()
        self.proj = nn.Linear(input_dim, out_dim)

    def forward(self, hidden_states):
        hidden_states = hidden_states.flatten(2).transpose(1, 2)
        return self.proj(hidden_states)


class FaceXFormerEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ws, ps = cfg["window_size"], cfg["patch_size"]
        swin = tv_swin.SwinTransformer(
            patch_size=[ps, ps], embed_dim=cfg["embed_dim"], depths=cfg["depths"], num_heads=cfg["num_heads"],
            window_size=[ws, ws], mlp_ratio=cfg["mlp_ratio"], stochastic_depth_prob=0.0,
            norm_layer=lambda d: nn.LayerNorm(d, eps=cfg["layer_norm_eps"]))
        assert cfg["num_channels"] == 3
        # FaceXFormer: self.backbone = nn.Sequential(*(list(swin.children())[:-1]))  (drops the head)
        self.backbone = nn.Sequential(*(list(swin.children())[:-1]))
        self.target_layer_names = ["0.1", "0.3", "0.5", "0.7"]
        self.multi_scale_features = []
        for name, module in self.backbone.named_modules():
            if name in self.target_layer_names:
                module.register_forward_hook(self._hook)
        nstage = len(cfg["depths"])
        hidden_sizes = [cfg["embed_dim"] * 2 ** i for i in range(nstage)]
        fh = cfg["fusion_hidden_size"]
        self.linear_c = nn.ModuleList([FaceXFormerMLP(hidden_sizes[i], fh) for i in range(nstage)])
        self.linear_fuse = nn.Conv2d(fh * nstage, fh, kernel_size=1, bias=False)

    def _hook(self, module, inp, output):
        self.multi_scale_features.append(output.permute(0, 3, 1, 2).contiguous())

    def forward(self, x):
        self.multi_scale_features.clear()
        self.backbone(x)
        batch_size = self.multi_scale_features[-1].shape[0]
        all_hidden_states = ()
        for encoder_hidden_state, mlp in zip(self.multi_scale_features, self.linear_c):
            height, width = encoder_hidden_state.shape[2], encoder_hidden_state.shape[3]
            encoder_hidden_state = mlp(encoder_hidden_state)
            encoder_hidden_state = encoder_hidden_state.permute(0, 2, 1)
            encoder_hidden_state = encoder_hidden_state.reshape(batch_size, -1, height, width)
            encoder_hidden_state = F.interpolate(encoder_hidden_state, size=self.multi_scale_features[0].size()[2:],
                                                 mode="bilinear", align_corners=False)
            all_hidden_states += (encoder_hidden_state,)
        return self.linear_fuse(torch.cat(all_hidden_states[::-1], dim=1))


# --------------------------------------------------------------------------------------------
# Omni-Emotion (the project's composed model: models/omni/{model,fusion,config}.ts). The parts
# that are not Hugging Face models are written from the project's documented semantics; the
# visual path and the splice follow LLaVA-NeXT (llava_arch.py: get_2dPool, encode_multimodals,
# prepare_inputs_labels_for_multimodal), the audio path HumanOmni (Whisper -> avg_pool1d -> MLP).
# --------------------------------------------------------------------------------------------
def mlp2x_gelu(d_in, d_out):
    """LLaVA / HumanOmni `mlp2x_gelu`: Sequential(Linear, GELU (erf), Linear) -> names 0.*, 2.*."""
    return nn.Sequential(nn.Linear(d_in, d_out), nn.GELU(), nn.Linear(d_out, d_out))


class LlavaSiglipTower(nn.Module):
    """LLaVA-NeXT's SigLipVisionTower: `vision_tower.vision_model.*`. LLaVA deletes the layers after
    mm_vision_select_layer (`del layers[-1:]` for -2) and the pooling head, and returns
    hidden_states[-1] of what is left (no post_layernorm; post_layernorm stays in the checkpoint)."""

    def __init__(self, vcfg, select_layer):
        super().__init__()
        cfg = OrderedDict(vcfg)
        cfg["vision_use_head"] = False
        self.vision_tower = nn.Module()
        self.vision_tower.vision_model = SiglipVisionTransformer(cfg)
        n = cfg["num_hidden_layers"]
        keep = n + 1 + select_layer if select_layer < 0 else select_layer
        assert 1 <= keep <= n
        del self.vision_tower.vision_model.encoder.layers[keep:]

    def forward(self, pixel_values):
        vm = self.vision_tower.vision_model
        return vm.encoder(vm.embeddings(pixel_values))[-1]


class TinyFaceCnn(nn.Module):
    """The `tiny_face_cnn` face encoder (models/omni/model.ts): Conv2d(k3, s2, p1) + GELU (erf) per
    layer, names convs.{i}.weight|bias."""

    def __init__(self, cfg):
        super().__init__()
        chans = [cfg.get("num_channels", 3)] + list(cfg["hidden_sizes"])
        self.convs = nn.ModuleList([nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1)
                                    for i in range(len(cfg["hidden_sizes"]))])

    def forward(self, x):
        for conv in self.convs:
            x = F.gelu(conv(x))
        return x


class FusionCrossAttention(nn.Module):
    """fusion.cross_attn (models/omni/fusion.ts): face tokens F [N, Nf, H] of a frame query that
    frame's visual tokens V [N, Nv, H]: F + out_proj(MHA(q_proj(LN_q(F)), k_proj(LN_kv(V)),
    v_proj(LN_kv(V)))), heads = contiguous head_dim chunks, scale head_dim^-0.5, no mask."""

    def __init__(self, hidden, heads, eps):
        super().__init__()
        self.heads = heads
        self.norm_q = nn.LayerNorm(hidden, eps=eps)
        self.norm_kv = nn.LayerNorm(hidden, eps=eps)
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def forward(self, face, visual):
        n, nf, h = face.shape
        nv = visual.shape[1]
        hd = h // self.heads
        q = self.q_proj(self.norm_q(face)).view(n, nf, self.heads, hd).transpose(1, 2)
        kv = self.norm_kv(visual)
        k = self.k_proj(kv).view(n, nv, self.heads, hd).transpose(1, 2)
        v = self.v_proj(kv).view(n, nv, self.heads, hd).transpose(1, 2)
        w = F.softmax(torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5, dim=-1)
        o = torch.matmul(w, v).transpose(1, 2).reshape(n, nf, h)
        return face + self.out_proj(o)


class OmniEmotion(nn.Module):
    """Architecture `omni-emotion`. Module names = the parameter paths of omniParams
    (vision_tower.vision_tower.vision_model.*, mm_projector.{0,2}, image_newline, audio_encoder.*,
    audio_projector.{0,2}, face_encoder.*, face_projector.{0,2}, fusion.cross_attn.*, llm.*)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        tc, vc, ac, fc = cfg["text_config"], cfg["vision_config"], cfg["audio_config"], cfg["face_config"]
        H = tc["hidden_size"]
        assert cfg["mm_projector_type"] == "mlp2x_gelu" and cfg["mm_spatial_pool_mode"] == "bilinear"
        self.vision_tower = LlavaSiglipTower(vc, cfg["mm_vision_select_layer"])
        self.mm_projector = mlp2x_gelu(vc["hidden_size"], H)
        if cfg["mm_newline_position"] == "one_token":
            self.image_newline = nn.Parameter(torch.zeros(H))  # LLaVA: randn(H) / sqrt(H)
        else:
            assert cfg["mm_newline_position"] == "no_token"
            self.image_newline = None
        self.audio_encoder = WhisperEncoder(ac)
        self.audio_projector = mlp2x_gelu(ac["d_model"], H)
        if fc["model_type"] == "tiny_face_cnn":
            self.face_encoder = TinyFaceCnn(fc)
            face_channels = fc["hidden_sizes"][-1]
        else:
            assert fc["model_type"] == "facexformer"
            self.face_encoder = FaceXFormerEncoder(fc)
            face_channels = fc["fusion_hidden_size"]
        self.face_projector = mlp2x_gelu(face_channels, H)
        if cfg["fusion"] == "cross_attention":
            self.fusion = nn.Module()
            self.fusion.cross_attn = FusionCrossAttention(H, cfg["fusion_num_heads"], cfg["fusion_layer_norm_eps"])
        self.llm = Qwen2ForCausalLM(tc)

    # -- the blocks
    def visual_tokens(self, pixel_values, b):
        """LLaVA-NeXT encode_multimodals + get_2dPool (bilinear): [B*T, 3, S, S] -> [B, T, Nv, H]."""
        feats = self.mm_projector(self.vision_tower(pixel_values))  # [BT, N, H]
        bt, n, h = feats.shape
        side = int(round(math.sqrt(n)))
        assert side * side == n
        s = self.cfg["mm_spatial_pool_stride"]
        x = feats.view(bt, side, side, h).permute(0, 3, 1, 2)
        if s != 1:
            out = math.ceil(side / s)
            x = F.interpolate(x, size=(out, out), mode="bilinear")  # align_corners default (False)
        x = x.permute(0, 2, 3, 1).reshape(bt, -1, h)
        return x.view(b, bt // b, -1, h)

    def face_tokens(self, face_values, b):
        """face map [B*T, C, h, w] -> adaptive avg pool (p x p) -> row-major tokens -> face_projector."""
        fmap = self.face_encoder(face_values)
        p = self.cfg["face_pool_size"]
        tok = F.adaptive_avg_pool2d(fmap, (p, p)).flatten(2).transpose(1, 2)  # [BT, p*p, C]
        out = self.face_projector(tok)
        return out.view(b, out.shape[0] // b, p * p, out.shape[-1])

    def video_block(self, visual, face):
        b, t, nv, h = visual.shape
        nf = face.shape[2]
        nl = [self.image_newline.view(1, 1, h).expand(b, 1, h)] if self.image_newline is not None else []
        kind = self.cfg["fusion"]
        if kind == "video_concat":  # [V_1..V_T] newline [F_1..F_T]
            return torch.cat([visual.reshape(b, t * nv, h)] + nl + [face.reshape(b, t * nf, h)], 1)
        if kind == "frame_concat":  # [V_1 F_1 .. V_T F_T] newline
            return torch.cat([torch.cat([visual, face], 2).reshape(b, t * (nv + nf), h)] + nl, 1)
        assert kind == "cross_attention"  # [V_1..V_T] newline [F'_1..F'_T]
        fa = self.fusion.cross_attn(face.reshape(b * t, nf, h), visual.reshape(b * t, nv, h))
        return torch.cat([visual.reshape(b, t * nv, h)] + nl + [fa.reshape(b, t * nf, h)], 1)

    def audio_block(self, input_features):
        """Whisper encoder -> avg_pool1d(k = s = audio_pool_stride) over time -> audio_projector."""
        hs = self.audio_encoder(input_features)  # [B, T', d]
        k = self.cfg["audio_pool_stride"]
        pooled = F.avg_pool1d(hs.transpose(1, 2), kernel_size=k, stride=k).transpose(1, 2)
        return self.audio_projector(pooled)

    def splice(self, input_ids, blocks, labels):
        """LLaVA-NeXT prepare_inputs_labels_for_multimodal: per row, the text between placeholders
        is embedded (placeholders never are), the blocks go where their placeholder was, and their
        label positions get ignore_index. Every row holds exactly one of each placeholder."""
        ignore = self.cfg["ignore_index"]
        embed = self.llm.model.embed_tokens
        rows, row_labels = [], []
        for r in range(input_ids.shape[0]):
            ids = input_ids[r]
            places = []
            for pid, tokens in blocks:
                where_ = (ids == pid).nonzero().view(-1)
                assert len(where_) == 1, (r, pid)
                places.append((int(where_[0]), tokens[r]))
            places.sort(key=lambda e: e[0])
            segs, labs, start = [], [], 0
            for p, tokens in places:
                segs += [embed(ids[start:p]), tokens]
                labs += [labels[r, start:p], torch.full((tokens.shape[0],), ignore, dtype=labels.dtype)]
                start = p + 1
            segs.append(embed(ids[start:]))
            labs.append(labels[r, start:])
            rows.append(torch.cat(segs, 0))
            row_labels.append(torch.cat(labs, 0))
        return torch.stack(rows), torch.stack(row_labels)

    def forward(self, input_ids, pixel_values, face_values, input_features, labels):
        b = input_ids.shape[0]
        video = self.video_block(self.visual_tokens(pixel_values, b), self.face_tokens(face_values, b))
        audio = self.audio_block(input_features)
        embeds, spliced_labels = self.splice(input_ids, [(self.cfg["video_token_index"], video),
                                                         (self.cfg["audio_token_index"], audio)], labels)
        logits = self.llm(inputs_embeds=embeds)
        # Qwen2ForCausalLM / LLaVA: shift, CrossEntropyLoss(ignore_index) = mean over counted tokens
        v = logits.shape[-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, v), spliced_labels[:, 1:].reshape(-1),
                               ignore_index=self.cfg["ignore_index"])
        return logits, loss, spliced_labels


# --------------------------------------------------------------------------------------------
# weights: random, float32-representable, scaled so activations stay O(1)
# --------------------------------------------------------------------------------------------
def randn(gen, shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def init_weights(model, gen, embed_std=1.0, keep=()):
    norm_types = (nn.LayerNorm, Qwen2RMSNorm)
    with torch.no_grad():
        for mod_name, mod in model.named_modules():
            for p_name, p in mod.named_parameters(recurse=False):
                full = f"{mod_name}.{p_name}" if mod_name else p_name
                if full in keep:
                    continue
                if isinstance(mod, norm_types):
                    v = 1.0 + 0.1 * randn(gen, p.shape) if p_name == "weight" else 0.1 * randn(gen, p.shape)
                elif p_name == "relative_position_bias_table":
                    v = 0.5 * randn(gen, p.shape)
                elif isinstance(mod, nn.Embedding):
                    v = embed_std * randn(gen, p.shape)
                elif p_name == "probe":
                    v = randn(gen, p.shape)
                elif p.dim() == 1:  # biases
                    v = 0.1 * randn(gen, p.shape)
                else:  # Linear / Conv / in_proj weights: fan_in scaling
                    fan_in = int(np.prod(p.shape[1:]))
                    v = randn(gen, p.shape) / math.sqrt(fan_in)
                p.copy_(v.to(torch.float32).to(p.dtype))
        if isinstance(model, Qwen2ForCausalLM) and model.model.embed_tokens.padding_idx is not None:
            model.model.embed_tokens.weight[model.model.embed_tokens.padding_idx].zero_()  # as HF's init


def state_dict_np(model, prefix=""):
    """Parameters and persistent buffers under HF / checkpoint names, float32 (buffers keep dtype)."""
    out = OrderedDict()
    for k, v in model.state_dict().items():
        a = v.detach().cpu()
        a = a.to(torch.float32) if a.is_floating_point() else a
        out[prefix + k] = a.numpy()
    return out


def write_case(arch, case, cfg, model, prefix):
    """A case's folder with its config.json and weights.safetensors (Hugging Face names)."""
    d = os.path.join(OUT, arch, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    weights = state_dict_np(model, prefix)
    write_safetensors(os.path.join(d, "weights.safetensors"), weights, {"format": "pt"})
    return d, weights


def f32(t):
    return t.detach().to(torch.float32).cpu().numpy()


# --------------------------------------------------------------------------------------------
# one case: forward + VJP in float64, write the four files
# --------------------------------------------------------------------------------------------
MANIFEST_CASES = []


def run_case(arch, case, cfg, model, prefix, input_name, inp, output_name, notes, seed,
             frozen_in_hf=(), fd_checks=4):
    model = model.double()
    model.train(False)
    params = [(n, p) for n, p in model.named_parameters()]
    for _, p in params:
        p.requires_grad_(True)
    float_input = inp.is_floating_point()
    x = inp.detach().to(torch.float64).requires_grad_(True) if float_input else inp.detach().to(torch.int64)
    out = model(x)
    gen = torch.Generator().manual_seed(seed + 1)
    cot = randn(gen, out.shape).to(torch.float32).to(torch.float64)
    loss = (out * cot).sum()
    wrt = [p for _, p in params] + ([x] if float_input else [])
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    grads = [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt)]

    # finite-difference check of a few gradient entries (float64, central differences)
    fd_gen = torch.Generator().manual_seed(seed + 2)
    worst = 0.0
    with torch.no_grad():
        cand = [i for i, (n, p) in enumerate(params) if grads[i].abs().max() > 0]
        picks = [cand[int(torch.randint(len(cand), (1,), generator=fd_gen))] for _ in range(fd_checks)]
        if float_input:
            picks += [len(params)] * 2
        for i in picks:
            w = wrt[i]
            j = int(torch.randint(w.numel(), (1,), generator=fd_gen))
            if i < len(params) and float(grads[i].reshape(-1)[j]) == 0.0:
                nz = torch.nonzero(grads[i].reshape(-1)).view(-1)  # e.g. a padding_idx row: no gradient by design
                j = int(nz[int(torch.randint(len(nz), (1,), generator=fd_gen))])
            flat = w.view(-1)
            old = flat[j].item()
            eps = 1e-6
            flat[j] = old + eps
            lp = (model(x) * cot).sum().item()
            flat[j] = old - eps
            lm = (model(x) * cot).sum().item()
            flat[j] = old
            fd = (lp - lm) / (2 * eps)
            an = grads[i].reshape(-1)[j].item()
            worst = max(worst, abs(fd - an) / max(1.0, abs(an)))
    CHECKS.append({"check": f"finite differences vs autograd, {arch}/{case} ({len(picks)} entries)",
                   "max_rel_err": worst, "tolerance": 1e-6})
    assert worst < 1e-6, (arch, case, worst)

    d, weights = write_case(arch, case, cfg, model, prefix)
    inputs = OrderedDict()
    inputs[input_name] = inp.detach().to(torch.float32).numpy() if float_input else inp.detach().to(torch.int32).numpy()
    inputs["cotangent"] = f32(cot)
    write_safetensors(os.path.join(d, "inputs.safetensors"), inputs)
    outputs = OrderedDict()
    outputs[output_name] = f32(out)
    zero = []
    for (n, _), g in zip(params, grads):
        outputs["grad." + prefix + n] = f32(g)
        if float(g.abs().max()) == 0.0:
            zero.append(prefix + n)
    if float_input:
        outputs["grad.input"] = f32(grads[-1])
    write_safetensors(os.path.join(d, "outputs.safetensors"), outputs,
                      {"grad.input": input_name if float_input else "", "torch": torch.__version__})

    # read back and compare (independent of the writer's code path: np.frombuffer)
    for fname, tensors in (("weights.safetensors", weights), ("inputs.safetensors", inputs),
                           ("outputs.safetensors", outputs)):
        back = read_safetensors(os.path.join(d, fname))
        assert list(back.keys()) == list(tensors.keys())
        for k in tensors:
            assert back[k].dtype == tensors[k].dtype and np.array_equal(back[k], tensors[k]), (fname, k)

    files = {fn: os.path.getsize(os.path.join(d, fn)) for fn in
             ("config.json", "weights.safetensors", "inputs.safetensors", "outputs.safetensors")}
    assert max(files.values()) < 1_000_000, (arch, case, files)
    buffers = [prefix + k for k, _ in model.named_buffers() if k in model.state_dict()]
    o = out.detach()
    MANIFEST_CASES.append(OrderedDict([
        ("arch", arch), ("case", case), ("dir", f"{arch}/{case}"),
        ("weight_prefix", prefix),
        ("inputs", OrderedDict([(k, {"dtype": _NP2ST[v.dtype], "shape": list(v.shape)}) for k, v in inputs.items()])),
        ("outputs", OrderedDict([(output_name, {"dtype": "F32", "shape": list(o.shape)}),
                                 ("grad.<param>", {"count": len(params)}),
                                 ("grad.input", {"of": input_name} if float_input else None)])),
        ("num_parameters", int(sum(p.numel() for _, p in params))),
        ("parameters", [prefix + n for n, _ in params]),
        ("buffers_in_weights", buffers),
        ("zero_grad_parameters", zero),
        ("frozen_in_hf", list(frozen_in_hf)),
        ("output_stats", {"mean_abs": float(o.abs().mean()), "max_abs": float(o.abs().max())}),
        ("files", files),
        ("seed", seed),
        ("notes", notes),
    ]))
    print(f"  {arch}/{case}: out {list(o.shape)} |out|max {float(o.abs().max()):.3f} "
          f"params {sum(p.numel() for _, p in params)} files {files}")
    return model, out


def seed_of(arch, case):
    return zlib.crc32(f"{arch}/{case}".encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------------------------
# case definitions
# --------------------------------------------------------------------------------------------
def whisper_cfg(mels, d, layers, heads, ffn, max_src):
    return OrderedDict([
        ("model_type", "whisper"), ("architectures", ["WhisperForConditionalGeneration"]),
        ("num_mel_bins", mels), ("d_model", d), ("encoder_layers", layers),
        ("encoder_attention_heads", heads), ("encoder_ffn_dim", ffn),
        ("decoder_layers", layers), ("decoder_attention_heads", heads), ("decoder_ffn_dim", ffn),
        ("max_source_positions", max_src), ("max_target_positions", 16), ("vocab_size", 64),
        ("activation_function", "gelu"), ("scale_embedding", False), ("dropout", 0.0),
        ("attention_dropout", 0.0), ("activation_dropout", 0.0), ("encoder_layerdrop", 0.0),
        ("torch_dtype", "float32")])


def make_whisper():
    cases = [
        # (case, cfg, batch, T, prefix)
        ("b2_t24_full", whisper_cfg(16, 32, 2, 4, 64, 12), 2, 24, "encoder.",
         ["T = 2*max_source_positions: exactly what HF's WhisperEncoder accepts."]),
        ("b1_t21_short_odd", whisper_cfg(12, 48, 2, 3, 96, 16), 1, 21, "model.encoder.",
         ["odd T=21 < 2*max_source_positions=32: conv2 gives (21-1)//2+1 = 11 frames and embed_positions "
          "is sliced to its first 11 rows (HF itself would raise; the project supports shorter input).",
          "weights carry the leading 'model.' of a WhisperForConditionalGeneration checkpoint."]),
        ("b3_t10_short", whisper_cfg(8, 32, 2, 2, 48, 8), 3, 10, "encoder.",
         ["T=10 < 16: 5 frames, embed_positions rows 0..4 used, rows 5..7 get zero gradient."]),
    ]
    for case, cfg, b, t, prefix, notes in cases:
        seed = seed_of("whisper-encoder", case)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = WhisperEncoder(cfg)
        init_weights(model, gen, keep=("embed_positions.weight",))
        feats = randn(gen, (b, cfg["num_mel_bins"], t)).to(torch.float32)
        notes = notes + ["embed_positions.weight is HF's `sinusoids` table (float32); it is frozen in HF "
                         "(requires_grad False) but its gradient is given like any other."]
        run_case("whisper-encoder", case, cfg, model, prefix, "input_features", feats, "last_hidden_state",
                 notes, seed, frozen_in_hf=[prefix + "embed_positions.weight"])


def siglip_cfg(image, patch, d, inter, layers, heads, **extra):
    c = OrderedDict([
        ("model_type", "siglip_vision_model"), ("hidden_size", d), ("intermediate_size", inter),
        ("num_hidden_layers", layers), ("num_attention_heads", heads), ("num_channels", 3),
        ("image_size", image), ("patch_size", patch), ("hidden_act", "gelu_pytorch_tanh"),
        ("layer_norm_eps", 1e-6), ("attention_dropout", 0.0), ("torch_dtype", "float32")])
    c.update(extra)
    return c


def make_siglip():
    cases = [
        ("b2_img16_p4", siglip_cfg(16, 4, 32, 64, 2, 2, vision_use_head=False), 2, 16,
         ["4x4 = 16 patches; output = post_layernorm(last layer)."]),
        ("b1_img22_p4_head", siglip_cfg(22, 4, 48, 80, 2, 4), 1, 22,
         ["22 is not a multiple of 4: the 'valid' patch conv covers 20x20 pixels (5x5 = 25 patches); "
          "the last 2 rows/columns of pixels are ignored (grad.input is 0 there), as siglip-so400m "
          "at 384/14 ignores 6.",
          "no vision_use_head in the config = HF default True: the weights hold the attention-pooling "
          "head (vision_model.head.*), which is loaded but not on the last_hidden_state path: its "
          "gradients are all zero."]),
        ("b2_img18_p6_layer-2", siglip_cfg(18, 6, 32, 64, 3, 2, vision_use_head=False, vision_feature_layer=-2),
         2, 18,
         ["project extension `vision_feature_layer` (LLaVA's select layer): output = HF hidden_states[-2] = "
          "output of encoder layer 2 of 3, WITHOUT post_layernorm (LLaVA-OneVision's choice). Layer 3 "
          "and post_layernorm get zero gradient."]),
    ]
    for case, cfg, b, img, notes in cases:
        seed = seed_of("siglip-vision", case)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = SiglipVisionTransformer(cfg)
        init_weights(model, gen, embed_std=0.5)
        px = (2 * torch.rand(b, 3, img, img, generator=gen, dtype=torch.float64) - 1).to(torch.float32)
        run_case("siglip-vision", case, cfg, model, "vision_model.", "pixel_values", px, "last_hidden_state",
                 notes, seed)


def qwen2_cfg(vocab, h, inter, layers, heads, kv, tied, theta, eps=1e-6, **extra):
    c = OrderedDict([
        ("model_type", "qwen2"), ("architectures", ["Qwen2ForCausalLM"]), ("vocab_size", vocab),
        ("hidden_size", h), ("intermediate_size", inter), ("num_hidden_layers", layers),
        ("num_attention_heads", heads), ("num_key_value_heads", kv), ("hidden_act", "silu"),
        ("max_position_embeddings", 64), ("rms_norm_eps", eps), ("rope_theta", theta),
        ("rope_scaling", None), ("tie_word_embeddings", tied), ("use_sliding_window", False),
        ("sliding_window", 64), ("max_window_layers", layers), ("attention_dropout", 0.0),
        ("bos_token_id", vocab - 2), ("eos_token_id", vocab - 1), ("torch_dtype", "float32")])
    c.update(extra)
    return c


def make_qwen2():
    cases = [
        ("mha4_tied_b2_l7", qwen2_cfg(97, 32, 64, 2, 4, 4, True, 10000.0), 2, 7,
         ["heads/kv 4/4 (plain MHA), head_dim 8; tied: no lm_head.weight in the weights, logits = "
          "h @ embed_tokens^T and grad.model.embed_tokens.weight sums both uses."]),
        ("gqa4x2_untied_b1_l9", qwen2_cfg(101, 64, 96, 2, 4, 2, False, 1000000.0), 1, 9,
         ["heads/kv 4/2, head_dim 16, rope_theta 1e6 (Qwen2-7B's), untied lm_head."]),
        ("gqa6x1_tied_b2_l5", qwen2_cfg(89, 48, 80, 2, 6, 1, True, 10000.0, eps=1e-5), 2, 5,
         ["heads/kv 6/1 (MQA), head_dim 8, rms_norm_eps 1e-5, tied."]),
        ("padidx_gqa4x2_untied_b2_l6", qwen2_cfg(67, 32, 64, 2, 4, 2, False, 10000.0, pad_token_id=0), 2, 6,
         ["pad_token_id 0 is in the config: HF builds nn.Embedding(vocab, hidden, padding_idx=0), whose "
          "row 0 receives NO gradient (grad.model.embed_tokens.weight[0] == 0 although token 0 occurs in "
          "input_ids); the forward is unchanged (row 0 is looked up as stored; HF's init zeroes it, so it is "
          "zero here too). No attention mask: token 0 is attended like any other."]),
    ]
    for case, cfg, b, l, notes in cases:
        seed = seed_of("qwen2", case)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(cfg)
        init_weights(model, gen, embed_std=0.3)
        ids = torch.randint(0, cfg["vocab_size"], (b, l), generator=gen)
        if cfg.get("pad_token_id") is not None:
            ids[0, 1] = cfg["pad_token_id"]
            ids[1, -1] = cfg["pad_token_id"]
        model_d, out = run_case("qwen2", case, cfg, model, "", "input_ids", ids.to(torch.int32), "logits",
                                notes, seed)
        check_qwen2_numpy(case, cfg, model_d, ids, out)


def face_cfg(image, embed, depths, heads, window, fusion, mlp_ratio=4.0):
    return OrderedDict([
        ("model_type", "facexformer"), ("image_size", image), ("patch_size", 4), ("num_channels", 3),
        ("embed_dim", embed), ("depths", depths), ("num_heads", heads), ("window_size", window),
        ("mlp_ratio", mlp_ratio), ("layer_norm_eps", 1e-5), ("fusion_hidden_size", fusion)])


def make_face():
    cases = [
        ("b1_img96_w3", face_cfg(96, 8, [2, 2, 2, 2], [1, 2, 2, 4], 3, 16, mlp_ratio=2.0), 1, (96, 96),
         ["stages 24x24, 12x12, 6x6, 3x3: every side a multiple of the window (3), no padding; the second "
          "block of stages 1-3 is shifted by 3//2 = 1 with the -100 mask; in stage 4 window 3 >= 3 so the "
          "shift is dropped (torchvision rule). mlp_ratio 2.0 (MLP hidden = 2*C)."]),
        ("b2_img61x46_w7", face_cfg(61, 6, [2, 2, 2, 2], [1, 2, 2, 4], 7, 16), 2, (61, 46),
         ["non-square 61x46, not a multiple of the patch: the stride-4 conv covers 60x44 -> stage 1 15x11; "
          "patch merging pads odd sides -> 8x6, 4x3, 2x2.",
          "window 7: stage 1 padded to 21x14 (both shifts 3 active); stage 2 8x6 padded to 14x7: shift "
          "(3, 0) (height shifted only, the mask then depends on rows only); stages 3-4 padded to 7x7, "
          "no shift. Padded tokens are zeros AFTER norm1 and are NOT masked: they act as keys/values "
          "(k = qkv bias, v = qkv bias).",
          "output 15x11 = floor(61/4) x floor(46/4); bilinear (align_corners=False) upsampling from "
          "8x6, 4x3 and 2x2."]),
    ]
    for case, cfg, b, (hh, ww), notes in cases:
        seed = seed_of("face-encoder", case)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = FaceXFormerEncoder(cfg)
        init_weights(model, gen)
        px = (2 * torch.rand(b, 3, hh, ww, generator=gen, dtype=torch.float64) - 1).to(torch.float32)
        notes = notes + ["backbone.1 (Swin's final norm) is loaded but unused by the fused map: zero "
                         "gradient. relative_position_index buffers (I64) are in the weights."]
        model_d, out = run_case("face-encoder", case, cfg, model, "", "pixel_values", px, "last_hidden_state",
                                notes, seed)
        check_face(case, cfg, model_d, px, out)


# --------------------------------------------------------------------------------------------
# omni-emotion cases: forward + two VJPs (logits . cotangent, and the loss) in float64
# --------------------------------------------------------------------------------------------
def omni_cfg(text, vision, audio, face, fusion, **extra):
    c = OrderedDict([
        ("model_type", "omni-emotion"), ("text_config", text), ("vision_config", vision),
        ("audio_config", audio), ("face_config", face),
        ("mm_vision_select_layer", -2), ("mm_projector_type", "mlp2x_gelu"),
        ("mm_spatial_pool_mode", "bilinear"), ("mm_spatial_pool_stride", 2),
        ("mm_newline_position", "one_token"), ("audio_pool_stride", 3),
        ("mm_audio_projector_type", "mlp2x_gelu"), ("face_pool_size", 2),
        ("mm_face_projector_type", "mlp2x_gelu"), ("fusion", fusion),
        ("fusion_num_heads", text["num_attention_heads"]), ("fusion_layer_norm_eps", 1e-5),
        ("num_frames", 2), ("video_token_index", -200), ("audio_token_index", -300),
        ("ignore_index", -100)])
    c.update(extra)
    return c


def tiny_face_cfg(image, hidden_sizes):
    return OrderedDict([("model_type", "tiny_face_cnn"), ("image_size", image), ("hidden_sizes", hidden_sizes),
                        ("num_channels", 3)])


def fd_entry(fn, w, j, eps=1e-6):
    """Central difference of the scalar fn() in entry j of the float64 leaf w."""
    with torch.no_grad():
        flat = w.view(-1)
        old = flat[j].item()
        flat[j] = old + eps
        lp = fn().item()
        flat[j] = old - eps
        lm = fn().item()
        flat[j] = old
    return (lp - lm) / (2 * eps)


def run_omni_case(case, cfg, model, prefix, ids, labels, px, faces, feats, notes, seed, fd_checks=4):
    arch = "omni-emotion"
    model = model.double()
    model.train(False)
    params = [(n, p) for n, p in model.named_parameters()]
    for _, p in params:
        p.requires_grad_(True)
    float_names = ["pixel_values", "face_values", "input_features"]
    xs = [t.detach().to(torch.float64).requires_grad_(True) for t in (px, faces, feats)]
    ids64, lab64 = ids.to(torch.int64), labels.to(torch.int64)

    def fwd():
        return model(ids64, xs[0], xs[1], xs[2], lab64)

    logits, loss, spliced_labels = fwd()
    gen = torch.Generator().manual_seed(seed + 1)
    cot = randn(gen, logits.shape).to(torch.float32).to(torch.float64)
    wrt = [p for _, p in params] + xs
    zeros = lambda gs: [torch.zeros_like(w) if g is None else g for g, w in zip(gs, wrt)]
    g_out = zeros(torch.autograd.grad((logits * cot).sum(), wrt, allow_unused=True, retain_graph=True))
    g_loss = zeros(torch.autograd.grad(loss, wrt, allow_unused=True))

    # finite differences: a few parameter entries and one entry of each float input, both objectives
    fd_gen = torch.Generator().manual_seed(seed + 2)
    worst = 0.0
    n_fd = 0
    for grads, obj in ((g_out, lambda: (fwd()[0] * cot).sum()), (g_loss, lambda: fwd()[1])):
        cand = [i for i in range(len(params)) if grads[i].abs().max() > 0]
        picks = [cand[int(torch.randint(len(cand), (1,), generator=fd_gen))] for _ in range(fd_checks)]
        picks += list(range(len(params), len(wrt)))
        for i in picks:
            nz = torch.nonzero(grads[i].reshape(-1)).view(-1)
            j = int(nz[int(torch.randint(len(nz), (1,), generator=fd_gen))])
            fd = fd_entry(obj, wrt[i].data, j)
            an = grads[i].reshape(-1)[j].item()
            worst = max(worst, abs(fd - an) / max(1.0, abs(an)))
            n_fd += 1
    CHECKS.append({"check": f"finite differences vs autograd, {arch}/{case} ({n_fd} entries, logits and loss)",
                   "max_rel_err": worst, "tolerance": 1e-6})
    assert worst < 1e-6, (arch, case, worst)

    d, weights = write_case(arch, case, cfg, model, prefix)
    inputs = OrderedDict([("input_ids", ids.detach().to(torch.int32).numpy())])
    for name, t in zip(float_names, (px, faces, feats)):
        inputs[name] = t.detach().to(torch.float32).numpy()
    inputs["cotangent"] = f32(cot)
    write_safetensors(os.path.join(d, "inputs.safetensors"), inputs)

    def grad_tensors(grads, first):
        out = OrderedDict(first)
        zero = []
        for (n, _), g in zip(params, grads):
            out["grad." + prefix + n] = f32(g)
            if float(g.abs().max()) == 0.0:
                zero.append(prefix + n)
        for name, g in zip(float_names, grads[len(params):]):
            out["grad." + name] = f32(g)
        return out, zero

    outputs, zero = grad_tensors(g_out, [("logits", f32(logits))])
    write_safetensors(os.path.join(d, "outputs.safetensors"), outputs,
                      {"grad.inputs": ",".join(float_names), "torch": torch.__version__})
    loss_t, zero_loss = grad_tensors(g_loss, [("labels", labels.detach().to(torch.int32).numpy()),
                                              ("loss", f32(loss)),
                                              ("spliced_labels", spliced_labels.detach().to(torch.int32).numpy())])
    write_safetensors(os.path.join(d, "loss.safetensors"), loss_t,
                      {"grad": "d loss / d x", "torch": torch.__version__})

    for fname, tensors in (("weights.safetensors", weights), ("inputs.safetensors", inputs),
                           ("outputs.safetensors", outputs), ("loss.safetensors", loss_t)):
        back = read_safetensors(os.path.join(d, fname))
        assert list(back.keys()) == list(tensors.keys())
        for k in tensors:
            assert back[k].dtype == tensors[k].dtype and np.array_equal(back[k], tensors[k]), (fname, k)

    files = {fn: os.path.getsize(os.path.join(d, fn)) for fn in
             ("config.json", "weights.safetensors", "inputs.safetensors", "outputs.safetensors", "loss.safetensors")}
    assert max(files.values()) < 1_000_000, (arch, case, files)
    buffers = [prefix + k for k, _ in model.named_buffers() if k in model.state_dict()]
    o = logits.detach()
    counted = int((spliced_labels[:, 1:] != cfg["ignore_index"]).sum())
    MANIFEST_CASES.append(OrderedDict([
        ("arch", arch), ("case", case), ("dir", f"{arch}/{case}"),
        ("weight_prefix", prefix),
        ("inputs", OrderedDict([(k, {"dtype": _NP2ST[v.dtype], "shape": list(v.shape)}) for k, v in inputs.items()])),
        ("outputs", OrderedDict([("logits", {"dtype": "F32", "shape": list(o.shape)}),
                                 ("grad.<param>", {"count": len(params)}),
                                 ("grad.<float input>", {"of": float_names})])),
        ("loss", OrderedDict([("file", "loss.safetensors"), ("value", float(loss)),
                              ("labels", {"dtype": "I32", "shape": list(labels.shape)}),
                              ("spliced_labels", {"dtype": "I32", "shape": list(spliced_labels.shape)}),
                              ("counted_tokens", counted), ("zero_grad_parameters", zero_loss)])),
        ("num_parameters", int(sum(p.numel() for _, p in params))),
        ("parameters", [prefix + n for n, _ in params]),
        ("buffers_in_weights", buffers),
        ("zero_grad_parameters", zero),
        ("frozen_in_hf", []),
        ("output_stats", {"mean_abs": float(o.abs().mean()), "max_abs": float(o.abs().max())}),
        ("files", files),
        ("seed", seed),
        ("notes", notes),
    ]))
    print(f"  {arch}/{case}: logits {list(o.shape)} |max| {float(o.abs().max()):.3f} loss {float(loss):.4f} "
          f"({counted} tokens) params {sum(p.numel() for _, p in params)} files {files}")
    return model, logits, loss


V_ID, A_ID, IGN = -200, -300, -100


def make_omni():
    check_omni_parts()
    tiny_text = lambda vocab, **kw: qwen2_cfg(vocab, 16, 32, 2, 4, 2, False, 10000.0, **kw)
    cases = [
        # (case, cfg, batch, text rows, label rows, frame side, face side, mel frames, prefix, notes)
        ("video_concat_tiny_b2_l11",
         omni_cfg(tiny_text(48), siglip_cfg(12, 4, 16, 32, 2, 2),
                  whisper_cfg(8, 16, 1, 2, 32, 8), tiny_face_cfg(12, [6, 8]), "video_concat"),
         [[3, 4, V_ID, 5, 6, 7, A_ID, 8, 9, 10, 11],
          [A_ID, 12, 13, 14, 15, 16, 17, 18, 19, 20, V_ID]],
         [[IGN, IGN, 40, IGN, IGN, IGN, 41, 8, 9, 10, 11],
          [42, 12, IGN, IGN, 15, 16, IGN, IGN, 19, 20, 43]],
         12, 12, 14, "",
         ["video_concat: <video> = [V_1 V_2] newline [F_1 F_2] (2 frames x (4 visual + 4 face) + 1 = 17 "
          "tokens); <audio> = 2 tokens. L = 11 -> L' = 11 - 2 + 19 = 28.",
          "SigLIP 12 px / patch 4: 3x3 patches, 2 layers of which LLaVA keeps 1 (mm_vision_select_layer -2); "
          "bilinear pooling 3x3 -> ceil(3/2) = 2x2 (scale 1.5, align_corners=False).",
          "tiny_face_cnn 12 px -> 6 -> 3: a 8x3x3 map, adaptive-average-pooled to 2x2 with overlapping bins "
          "[0,2) and [1,3).",
          "Whisper: 14 mel frames -> 7 encoder frames -> avg_pool1d(3, 3) -> 2 tokens (frame 6 is dropped by "
          "the pooling); embed_positions rows 7 (of 8) get zero gradient.",
          "row 0: <video> at 2, <audio> at 6; row 1: <audio> first (position 0), <video> last (position 10). "
          "Labels at the placeholder positions (40..43) are dropped by the splice (the block positions get "
          "ignore_index)."]),
        ("frame_concat_tiny_tied_pad_b2_l9",
         omni_cfg(qwen2_cfg(41, 16, 24, 1, 2, 1, True, 10000.0, pad_token_id=0),
                  siglip_cfg(16, 4, 16, 24, 3, 2), whisper_cfg(6, 16, 2, 2, 24, 8), tiny_face_cfg(8, [8]),
                  "frame_concat", mm_newline_position="no_token", audio_pool_stride=2),
         [[7, V_ID, 8, A_ID, 9, 10, 11, 0, 0],
          [7, 8, 9, 10, A_ID, 11, 12, V_ID, 13]],
         [[IGN, IGN, 30, IGN, 31, 32, 33, IGN, IGN],
          [IGN, IGN, IGN, 34, IGN, IGN, 35, IGN, 36]],
         16, 8, 16, "model.",
         ["frame_concat: <video> = [V_1 F_1 V_2 F_2] with mm_newline_position no_token (no image_newline "
          "parameter): 2 x (4 + 4) = 16 tokens; audio_pool_stride 2: 16 mel frames -> 8 -> 4 tokens. "
          "L = 9 -> L' = 27.",
          "SigLIP 16 px / patch 4: 4x4 patches, 3 layers of which LLaVA keeps 2; bilinear 4x4 -> 2x2 "
          "(scale 2). tiny_face_cnn one layer: 8 px -> 4x4 map pooled to 2x2 (even 2x2 blocks).",
          "Qwen2 tied (no lm_head.weight), MQA 2/1, 1 layer, pad_token_id 0 in text_config: the text "
          "padding (0, labels ignore_index) at the end of row 0 is embedded as row 0 of embed_tokens, "
          "which gets NO gradient (nn.Embedding padding_idx). Row 1: <video> at the second-to-last "
          "position.",
          "weights carry a leading 'model.' (the prefix the omni-emotion loader accepts): gradients "
          "are named grad.model.<param>."]),
        ("cross_attention_tiny_b2_l13",
         omni_cfg(tiny_text(52), siglip_cfg(12, 4, 24, 32, 2, 3), whisper_cfg(8, 16, 1, 2, 32, 10),
                  tiny_face_cfg(12, [6, 8]), "cross_attention", fusion_num_heads=2),
         [[5, 6, 7, A_ID, 8, V_ID, 9, 10, 11, 12, 13, 14, 15],
          [V_ID, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, A_ID]],
         [[IGN, IGN, IGN, IGN, 8, IGN, 9, 10, 11, 12, 13, 14, 15],
          [IGN, 16, 17, IGN, IGN, IGN, IGN, IGN, IGN, 24, 25, 26, IGN]],
         12, 12, 20, "",
         ["cross_attention: <video> = [V_1 V_2] newline [F'_1 F'_2] with F'_t = F_t + out_proj(MHA(q = "
          "q_proj(LN_q(F_t)), k/v = k/v_proj(LN_kv(V_t)))), 2 heads of 8 (fusion_num_heads 2, the LLM has "
          "4); frame t's face tokens attend to frame t's visual tokens only.",
          "SigLIP width 24 (3 heads) projected to 16; 20 mel frames -> 10 encoder frames (= "
          "max_source_positions) -> 3 tokens (frame 9 dropped). L = 13 -> L' = 13 - 2 + 17 + 3 = 31.",
          "row 0: <audio> before <video>; row 1: <video> first, <audio> last."]),
        ("video_concat_facexformer_b1_l8",
         omni_cfg(tiny_text(37), siglip_cfg(12, 4, 16, 32, 2, 2), whisper_cfg(8, 16, 1, 2, 32, 8),
                  face_cfg(16, 8, [2, 1], [1, 2], 2, 8, mlp_ratio=2.0), "video_concat"),
         [[11, 12, A_ID, 13, V_ID, 14, 15, 16]],
         [[IGN, IGN, IGN, 13, IGN, 14, 15, 16]],
         12, 16, 14, "",
         ["face encoder FaceXFormer (torchvision Swin, 2 stages: depths [2, 1], heads [1, 2], window 2, "
          "embed 8, mlp_ratio 2, fusion width 8) on 16 px crops: stage maps 4x4 and 2x2, fused 8x4x4 map "
          "pooled to 2x2. Second block of stage 1 shifted by 1 with the -100 mask; stage 2 (2x2, window "
          "2) unshifted. backbone.1 (Swin's final norm) is off the path: zero gradient; the "
          "relative_position_index buffers (I64) are in the weights (the loader ignores them).",
          "batch 1, L = 8 -> L' = 8 - 2 + 17 + 2 = 25; <audio> before <video>."]),
    ]
    for case, cfg, rows, lab_rows, side, face_side, mels, prefix, notes in cases:
        seed = seed_of("omni-emotion", case)
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = OmniEmotion(cfg)
        init_weights(model, gen, embed_std=0.5, keep=("audio_encoder.embed_positions.weight", "image_newline"))
        with torch.no_grad():
            if model.image_newline is not None:
                h = model.image_newline.numel()  # LLaVA: torch.randn(H) * (1 / sqrt(H))
                model.image_newline.copy_((randn(gen, (h,)) / math.sqrt(h)).to(torch.float32))
            pad = model.llm.model.embed_tokens.padding_idx
            if pad is not None:
                model.llm.model.embed_tokens.weight[pad].zero_()  # as HF's init
        b, t = len(rows), cfg["num_frames"]
        ids = torch.tensor(rows, dtype=torch.int32)
        labels = torch.tensor(lab_rows, dtype=torch.int32)
        px = (2 * torch.rand(b * t, 3, side, side, generator=gen, dtype=torch.float64) - 1).to(torch.float32)
        faces = randn(gen, (b * t, 3, face_side, face_side)).to(torch.float32)
        feats = randn(gen, (b, cfg["audio_config"]["num_mel_bins"], mels)).to(torch.float32)
        notes = notes + [
            "outputs.safetensors: logits and grad.X = d sum(logits * cotangent) / dX for every parameter and for "
            "pixel_values, face_values, input_features (named grad.<input>). loss.safetensors: labels (the "
            "input), loss (causal-LM cross-entropy: logits[:, :-1] vs spliced labels[:, 1:], mean over the "
            "labels != ignore_index), spliced_labels, and grad.X = d loss / dX for the same X."]
        model_d, logits, _ = run_omni_case(case, cfg, model, prefix, ids, labels, px, faces, feats, notes, seed)
        check_omni_splice(case, cfg, model_d, ids, labels, px, faces, feats)


# --------------------------------------------------------------------------------------------
# independent sanity checks
# --------------------------------------------------------------------------------------------
def record(name, diff, tol):
    CHECKS.append({"check": name, "max_abs_diff": float(diff), "tolerance": tol})
    print(f"  check {name}: max|diff| = {float(diff):.3e}")
    assert diff <= tol, (name, diff, tol)


def check_sinusoids():
    for length, ch in ((12, 32), (16, 48), (1500, 1280)):
        t = sinusoids(length, ch).numpy().astype(np.float64)
        inc = math.log(10000) / (ch // 2 - 1)
        pos = np.arange(length, dtype=np.float64)[:, None]
        inv = np.exp(-inc * np.arange(ch // 2, dtype=np.float64))[None, :]
        ref = np.concatenate([np.sin(pos * inv), np.cos(pos * inv)], axis=1)
        record(f"whisper sinusoids({length},{ch}) float32 table vs float64 formula", np.abs(t - ref).max(),
               2e-4 if length > 100 else 1e-5)


def check_activations():
    x = torch.linspace(-6, 6, 2001, dtype=torch.float64)
    xs = x.numpy()
    exact = 0.5 * xs * (1 + np.array([math.erf(v / math.sqrt(2)) for v in xs]))
    record("F.gelu vs 0.5x(1+erf(x/sqrt2))", np.abs(F.gelu(x).numpy() - exact).max(), 1e-14)
    tanh = 0.5 * xs * (1 + np.tanh(math.sqrt(2 / math.pi) * (xs + 0.044715 * xs ** 3)))
    record("gelu_pytorch_tanh vs 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))",
           np.abs(act_fn("gelu_pytorch_tanh")(x).numpy() - tanh).max(), 1e-14)
    record("silu vs x*sigmoid(x)", np.abs(F.silu(x).numpy() - xs / (1 + np.exp(-xs))).max(), 1e-14)


def check_attention_vs_mha():
    gen = torch.Generator().manual_seed(7)
    for label, attn, d, h in (("whisper", WhisperAttention(48, 3), 48, 3),
                              ("siglip", SiglipAttention({"hidden_size": 32, "num_attention_heads": 4}), 32, 4)):
        init_weights(attn, gen)
        attn = attn.double()
        mha = nn.MultiheadAttention(d, h, batch_first=True).double()
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]))
            kb = attn.k_proj.bias if attn.k_proj.bias is not None else torch.zeros(d, dtype=torch.float64)
            mha.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, kb, attn.v_proj.bias]))
            mha.out_proj.weight.copy_(attn.out_proj.weight)
            mha.out_proj.bias.copy_(attn.out_proj.bias)
            x = randn(gen, (2, 9, d))
            ref = mha(x, x, x, need_weights=False)[0]
            record(f"{label} attention vs torch nn.MultiheadAttention", (attn(x) - ref).abs().max().item(), 1e-12)


def check_patch_conv():
    gen = torch.Generator().manual_seed(8)
    cfg = siglip_cfg(22, 4, 16, 32, 1, 2)
    emb = SiglipVisionEmbeddings(cfg)
    init_weights(emb, gen)
    emb = emb.double()
    px = randn(gen, (2, 3, 22, 22))
    with torch.no_grad():
        got = emb(px)
        p = px[:, :, :20, :20].reshape(2, 3, 5, 4, 5, 4).permute(0, 2, 4, 1, 3, 5).reshape(2, 25, 48)
        ref = p @ emb.patch_embedding.weight.reshape(16, 48).T + emb.patch_embedding.bias + emb.position_embedding.weight
    record("siglip patch conv (22px, p4) vs crop-to-20 + unfold + matmul + position rows 0..24",
           (got - ref).abs().max().item(), 1e-12)


def check_qwen2_numpy(case, cfg, model, ids, out):
    """Independent numpy forward: per-head loops, RoPE as complex rotation of (i, i + d/2)."""
    W = {k: v.detach().numpy().astype(np.float64) for k, v in model.state_dict().items()}
    ids = ids.numpy()
    B, L = ids.shape
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps = H // nh, cfg["rms_norm_eps"]
    ang = np.arange(L)[:, None] * (1.0 / cfg["rope_theta"] ** (np.arange(0, hd, 2) / hd))[None, :]
    rot = np.exp(1j * ang)

    def rms(x, w):
        return w * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)

    def rope(v):
        z = (v[:, : hd // 2] + 1j * v[:, hd // 2:]) * rot
        return np.concatenate([z.real, z.imag], -1)

    x = W["model.embed_tokens.weight"][ids]
    for li in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{li}."
        hN = rms(x, W[p + "input_layernorm.weight"])
        attn = np.zeros((B, L, nh * hd))
        for b in range(B):
            q = hN[b] @ W[p + "self_attn.q_proj.weight"].T + W[p + "self_attn.q_proj.bias"]
            k = hN[b] @ W[p + "self_attn.k_proj.weight"].T + W[p + "self_attn.k_proj.bias"]
            v = hN[b] @ W[p + "self_attn.v_proj.weight"].T + W[p + "self_attn.v_proj.bias"]
            for hh in range(nh):
                g = hh // (nh // nkv)
                qh = rope(q[:, hh * hd:(hh + 1) * hd])
                kh = rope(k[:, g * hd:(g + 1) * hd])
                vh = v[:, g * hd:(g + 1) * hd]
                for i in range(L):
                    s = np.array([qh[i] @ kh[j] / math.sqrt(hd) for j in range(i + 1)])
                    pr = np.exp(s - s.max())
                    pr /= pr.sum()
                    attn[b, i, hh * hd:(hh + 1) * hd] = pr @ vh[: i + 1]
        x = x + attn @ W[p + "self_attn.o_proj.weight"].T
        hN = rms(x, W[p + "post_attention_layernorm.weight"])
        gte = hN @ W[p + "mlp.gate_proj.weight"].T
        up = hN @ W[p + "mlp.up_proj.weight"].T
        x = x + ((gte / (1 + np.exp(-gte))) * up) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    ref = x @ head.T
    record(f"qwen2/{case} logits vs independent numpy forward (loops, complex RoPE)",
           np.abs(out.detach().numpy() - ref).max(), 1e-10)


def np_window_attention(x, qkv_w, qkv_b, proj_w, proj_b, table, ws, shift, nh):
    """Window attention written from the semantics documented in README.md, for the check."""
    B, H, W, C = x.shape
    pb, pr = (-H) % ws, (-W) % ws
    xp = np.zeros((B, H + pb, W + pr, C))
    xp[:, :H, :W] = x
    PH, PW = H + pb, W + pr
    sh = 0 if ws >= PH else shift
    sw = 0 if ws >= PW else shift
    xp = np.roll(xp, (-sh, -sw), axis=(1, 2))

    def labels(P, s):
        if s == 0:
            return np.zeros(P, dtype=int)
        i = np.arange(P)
        return np.where(i < P - ws, 0, np.where(i < P - s, 1, 2))

    lab = labels(PH, sh)[:, None] * 3 + labels(PW, sw)[None, :]
    hd = C // nh
    ri = np.arange(ws)
    yy, xx = np.meshgrid(ri, ri, indexing="ij")
    yy, xx = yy.reshape(-1), xx.reshape(-1)
    idx = (yy[:, None] - yy[None, :] + ws - 1) * (2 * ws - 1) + (xx[:, None] - xx[None, :] + ws - 1)
    bias = table[idx]  # N, N, nh
    out = np.zeros_like(xp)
    for b in range(B):
        for wy in range(PH // ws):
            for wx in range(PW // ws):
                tok = xp[b, wy * ws:(wy + 1) * ws, wx * ws:(wx + 1) * ws].reshape(-1, C)
                lb = lab[wy * ws:(wy + 1) * ws, wx * ws:(wx + 1) * ws].reshape(-1)
                qkv = tok @ qkv_w.T + qkv_b
                o = np.zeros((ws * ws, C))
                for h in range(nh):
                    q = qkv[:, h * hd:(h + 1) * hd] * hd ** -0.5
                    k = qkv[:, C + h * hd:C + (h + 1) * hd]
                    v = qkv[:, 2 * C + h * hd:2 * C + (h + 1) * hd]
                    s = q @ k.T + bias[:, :, h]
                    if sh or sw:
                        s = s + np.where(lb[:, None] != lb[None, :], -100.0, 0.0)
                    p = np.exp(s - s.max(-1, keepdims=True))
                    p /= p.sum(-1, keepdims=True)
                    o[:, h * hd:(h + 1) * hd] = p @ v
                out[b, wy * ws:(wy + 1) * ws, wx * ws:(wx + 1) * ws] = (o @ proj_w.T + proj_b).reshape(ws, ws, C)
    out = np.roll(out, (sh, sw), axis=(1, 2))
    return out[:, :H, :W]


def check_face(case, cfg, model, px, out):
    feats = model.backbone[0]
    x = px.to(torch.float64)
    worst_attn = worst_merge = 0.0
    with torch.no_grad():
        h = feats[0](x)
        taps = []
        for si in range(1, len(feats)):
            mod = feats[si]
            if isinstance(mod, tv_swin.PatchMerging):
                a = h.numpy()
                Hh, Ww = a.shape[1:3]
                ap = np.zeros((a.shape[0], Hh + Hh % 2, Ww + Ww % 2, a.shape[3]))
                ap[:, :Hh, :Ww] = a
                cat = np.concatenate([ap[:, 0::2, 0::2], ap[:, 1::2, 0::2], ap[:, 0::2, 1::2], ap[:, 1::2, 1::2]], -1)
                mu = cat.mean(-1, keepdims=True)
                var = cat.var(-1, keepdims=True)
                ln = (cat - mu) / np.sqrt(var + cfg["layer_norm_eps"]) * mod.norm.weight.numpy() + mod.norm.bias.numpy()
                ref = ln @ mod.reduction.weight.numpy().T
                h = mod(h)
                worst_merge = max(worst_merge, np.abs(h.numpy() - ref).max())
                continue
            for blk in mod:
                n1 = blk.norm1(h)
                at = blk.attn
                ref = np_window_attention(n1.numpy(), at.qkv.weight.numpy(), at.qkv.bias.numpy(),
                                          at.proj.weight.numpy(), at.proj.bias.numpy(),
                                          at.relative_position_bias_table.numpy(), at.window_size[0],
                                          at.shift_size[0], at.num_heads)
                worst_attn = max(worst_attn, np.abs(at(n1).numpy() - ref).max())
                h = blk(h)
            taps.append(h.permute(0, 3, 1, 2))
        # fusion written directly (no hooks), against the hook-based FaceXFormer forward
        size = taps[0].shape[2:]
        ups = []
        for t, mlp in zip(taps, model.linear_c):
            b_, c_, hh, ww = t.shape
            y = mlp.proj(t.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(b_, -1, hh, ww)
            ups.append(F.interpolate(y, size=size, mode="bilinear", align_corners=False))
        fused = F.conv2d(torch.cat(ups[::-1], 1), model.linear_fuse.weight)
    record(f"face/{case} torchvision window attention vs numpy from the documented rules", worst_attn, 1e-10)
    record(f"face/{case} torchvision patch merging vs numpy (pad odd, cat x0,x1,x2,x3, LN, Linear)",
           worst_merge, 1e-10)
    record(f"face/{case} FaceXFormer hook-based fusion vs direct fusion", (fused - out).abs().max().item(), 1e-12)


def check_omni_parts():
    """The omni-emotion pieces that are not HF models, against direct formulas."""
    gen = torch.Generator().manual_seed(9)
    # cross-attention fusion vs torch's nn.MultiheadAttention on the normalised inputs
    xa = FusionCrossAttention(16, 2, 1e-5)
    init_weights(xa, gen)
    xa = xa.double()
    mha = nn.MultiheadAttention(16, 2, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([xa.q_proj.weight, xa.k_proj.weight, xa.v_proj.weight]))
        mha.in_proj_bias.copy_(torch.cat([xa.q_proj.bias, xa.k_proj.bias, xa.v_proj.bias]))
        mha.out_proj.weight.copy_(xa.out_proj.weight)
        mha.out_proj.bias.copy_(xa.out_proj.bias)
        face, vis = randn(gen, (3, 4, 16)), randn(gen, (3, 5, 16))
        kv = xa.norm_kv(vis)
        ref = face + mha(xa.norm_q(face), kv, kv, need_weights=False)[0]
        record("omni fusion cross-attention vs face + nn.MultiheadAttention(LN_q(face), LN_kv(visual))",
               (xa(face, vis) - ref).abs().max().item(), 1e-12)
    # LLaVA's bilinear pooling (F.interpolate, align_corners=False) vs half-pixel taps clamped at 0
    x = randn(gen, (2, 3, 5, 5))
    for (ih, iw), (oh, ow) in (((5, 3), (3, 2)), ((3, 3), (2, 2)), ((4, 4), (2, 2))):
        xx = x[:, :, :ih, :iw]

        def taps(n, o):
            m = np.zeros((o, n))
            for i in range(o):
                src = max(0.0, (i + 0.5) * n / o - 0.5)
                a = min(int(math.floor(src)), n - 1)
                m[i, a] += 1 - (src - a)
                m[i, min(a + 1, n - 1)] += src - a
            return m
        ref = np.einsum("yh,bchw,xw->bcyx", taps(ih, oh), xx.numpy(), taps(iw, ow))
        got = F.interpolate(xx, size=(oh, ow), mode="bilinear").numpy()
        record(f"bilinear {ih}x{iw} -> {oh}x{ow} (F.interpolate) vs half-pixel taps", np.abs(got - ref).max(), 1e-12)
    # adaptive average pooling vs PyTorch's bins [floor(i n / o), ceil((i + 1) n / o))
    for n, o in ((3, 2), (4, 2), (5, 3)):
        xx = randn(gen, (1, 2, n, n))
        bins = [(i * n // o, -(-(i + 1) * n // o)) for i in range(o)]
        ref = np.array([[[xx[0, c, a:b_, p:q].mean().item() for (p, q) in bins] for (a, b_) in bins] for c in range(2)])
        record(f"adaptive_avg_pool2d {n} -> {o} vs the bins formula",
               np.abs(F.adaptive_avg_pool2d(xx, o)[0].numpy() - ref).max(), 1e-12)


def check_omni_splice(case, cfg, model, ids, labels, px, faces, feats):
    """The model's splice (segments between placeholders) vs a gather from [text rows | blocks]."""
    ign = cfg["ignore_index"]
    with torch.no_grad():
        b, L = ids.shape
        xs = [t.to(torch.float64) for t in (px, faces, feats)]
        video = model.video_block(model.visual_tokens(xs[0], b), model.face_tokens(xs[1], b))
        audio = model.audio_block(xs[2])
        vid, aid = cfg["video_token_index"], cfg["audio_token_index"]
        emb, spl = model.splice(ids.long(), [(vid, video), (aid, audio)], labels.long())
        W = model.llm.model.embed_tokens.weight
        n = {vid: video.shape[1], aid: audio.shape[1]}
        off = {vid: L, aid: L + video.shape[1]}
        worst, lab_bad = 0.0, 0
        for r in range(b):
            row = ids[r].tolist()
            table = torch.cat([W[[t if t >= 0 else 0 for t in row]], video[r], audio[r]])
            idx, lab = [], []
            for j, tok in enumerate(row):
                if tok in n:
                    idx += list(range(off[tok], off[tok] + n[tok]))
                    lab += [ign] * n[tok]
                else:
                    idx.append(j)
                    lab.append(int(labels[r, j]))
            worst = max(worst, (emb[r] - table[idx]).abs().max().item())
            lab_bad += int((spl[r] != torch.tensor(lab)).sum())
    record(f"omni-emotion/{case} splice vs gather from [text | video | audio] (labels: {lab_bad} mismatches)",
           worst + lab_bad, 0.0)


# --------------------------------------------------------------------------------------------
def main():
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}")
    os.makedirs(OUT, exist_ok=True)
    for arch in ("whisper-encoder", "siglip-vision", "qwen2", "face-encoder", "omni-emotion"):  # no stale cases
        shutil.rmtree(os.path.join(OUT, arch), ignore_errors=True)
    print("sanity checks")
    check_sinusoids()
    check_activations()
    check_attention_vs_mha()
    check_patch_conv()
    print("whisper-encoder")
    make_whisper()
    print("siglip-vision")
    make_siglip()
    print("qwen2")
    make_qwen2()
    print("face-encoder")
    make_face()
    print("omni-emotion")
    make_omni()

    total = sum(sum(c["files"].values()) for c in MANIFEST_CASES)
    manifest = OrderedDict([
        ("generator", "scripts/goldens/make_goldens.py"),
        ("regenerate", "bash scripts/setup-python.sh && /usr/bin/python3 scripts/goldens/make_goldens.py"),
        ("python", platform.python_version()), ("torch", torch.__version__),
        ("torchvision", torchvision.__version__), ("numpy", np.__version__),
        ("compute_dtype", "float64 (from the stored float32 weights and inputs)"),
        ("stored_dtype", "F32 (input_ids I32, relative_position_index I64)"),
        ("gradient", "grad.<weight name> = d sum(output * cotangent) / d weight, for every parameter "
                     "(zeros where the parameter is off the output path); grad.input = the same w.r.t. "
                     "the float input (input_features or pixel_values); omni-emotion, with three float "
                     "inputs, names them grad.pixel_values, grad.face_values, grad.input_features, and "
                     "its loss.safetensors holds the same gradients of the causal-LM loss"),
        ("arch_names", "as `omni-emotion run <arch>`"),
        ("total_bytes", total),
        ("cases", MANIFEST_CASES),
        ("checks", CHECKS),
    ])
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"{len(MANIFEST_CASES)} cases, {total} bytes in {OUT}")
    assert total < 8_000_000


if __name__ == "__main__":
    sys.exit(main())
