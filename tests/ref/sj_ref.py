"""PyTorch reference of the seq-JEPA model (run by tests/test_sj_torch.c).

usage: sj_ref.py DIR
Reads DIR/sj_in.safetensors: the model's tensors under their checkpoint names, "views"
uint8 [B, T, H, W, 3], "actions" float32 [B, T-1, A], metadata "spec" (JSON: widths,
cifar, action_emb, layers, heads, ffn, pred_hidden, m, mean, std). Builds the model from
PyTorch modules laid out as the authors' SeqJEPA_Transforms and SeqJEPA_PLS (the same
tensor names), loads the tensors with strict=True, runs one
training forward (dropout 0) and backward of the loss, and writes DIR/sj_torch.safetensors
with z, z_agg, z_hat, z_tgt, loss, reg (the spec's var_weight / cov_weight terms, 0 if
absent), grad.<param> and every buffer after the step."""
import json
import os
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402
from nn_ref import ResNet  # noqa: E402


class Aggregator(nn.Module):
    """Laid out as the authors' transformer wrapper: the layer stack, built without a norm
    of its own, and the final LayerNorm beside it as `norm` (so its tensors are
    transformer_encoder.norm.*, not transformer_encoder.transformer_encoder.norm.*)."""

    def __init__(self, e, heads, ffn, layers):
        super().__init__()
        layer = nn.TransformerEncoderLayer(e, heads, ffn, dropout=0.0, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(e)

    def forward(self, x):
        return self.norm(self.transformer_encoder(x))


class SeqJEPA(nn.Module):
    def __init__(self, s, action_dim):
        super().__init__()
        d = s["widths"][3]
        e = d + s["action_emb"]
        self.encoder = ResNet(s["widths"], [2, 2, 2, 2], s["cifar"])
        self.target_encoder = ResNet(s["widths"], [2, 2, 2, 2], s["cifar"])
        self.action_proj = nn.Sequential(nn.Linear(action_dim, s["action_emb"], bias=False),
                                         nn.BatchNorm1d(s["action_emb"], affine=False))
        self.transformer_encoder = Aggregator(e, s["heads"], s["ffn"], s["layers"])
        self.agg_token = nn.Parameter(torch.zeros(1, 1, e))
        self.predictor = nn.Sequential(nn.Linear(e + s["action_emb"], s["pred_hidden"], bias=False),
                                       nn.BatchNorm1d(s["pred_hidden"]), nn.ReLU(),
                                       nn.Linear(s["pred_hidden"], d))

    def forward(self, views, actions, m, mean, std):
        b, t, h, w, c = views.shape
        x = views.float() / 255.0
        x = (x - mean) / std
        x = x.permute(0, 1, 4, 2, 3)  # B T C H W
        obs = x[:, :m].reshape(b * m, c, h, w)
        z = self.encoder(obs)
        emb = self.action_proj(actions[:, :m].reshape(b * m, -1)).view(b, m, -1)
        tok_emb = emb.clone()
        tok_emb[:, m - 1] = 0
        tokens = torch.cat([z.view(b, m, -1), tok_emb], dim=-1)
        tokens = torch.cat([self.agg_token.expand(b, 1, -1), tokens], dim=1)
        z_agg = self.transformer_encoder(tokens)[:, 0]
        z_hat = self.predictor(torch.cat([z_agg, emb[:, m - 1]], dim=-1))
        with torch.no_grad():
            z_tgt = self.target_encoder(x[:, m])
        loss = (1 - F.cosine_similarity(z_hat, z_tgt, dim=-1)).mean()
        return z, z_agg, z_hat, z_tgt, loss

    @torch.no_grad()
    def embed(self, views, actions, mean, std):
        """Eval-mode encodings z [N, M, D] and aggregates z_AGG [N, E] of views uint8
        [N, M, H, W, 3] with the M-1 actions between them [N, M-1, A] (what
        `seqjepa embed` writes)."""
        n, m = views.shape[:2]
        views = torch.cat([views, views[:, -1:]], dim=1)  # a target view the forward needs
        actions = torch.cat([actions, actions.new_zeros(n, 1, actions.shape[-1])], dim=1)
        z, z_agg, _, _, _ = self(views, actions, m, mean, std)
        return z.view(n, m, -1), z_agg


def spec_from_checkpoint(meta):
    """The reference's spec and action_dim from a seqjepa checkpoint's metadata (its
    stored run config and shape)."""
    import configparser
    ini = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    ini.read_string(meta["config"])
    mc = ini["model"]  # the stored config lists every key of [model]

    def get(key):
        return mc[key].strip('"')

    encoder, width = get("encoder"), int(get("width"))
    widths = [64, 128, 256, 512] if encoder.startswith("resnet18") else [width << i for i in range(4)]
    action_emb = int(get("action_emb"))
    e = widths[3] + action_emb
    _, _, action_dim, _ = (int(x) for x in meta["shape"].split())
    spec = {"widths": widths, "cifar": encoder != "resnet18", "action_emb": action_emb,
            "layers": int(get("layers")), "heads": int(get("heads")),
            "ffn": int(get("ffn_ratio")) * e, "pred_hidden": int(get("pred_hidden")),
            "mean": [float(x) for x in meta["pixel_mean"].split()],
            "std": [float(x) for x in meta["pixel_std"].split()]}
    return spec, action_dim


def load_strict(model, arrays):
    """model.load_state_dict of numpy arrays with strict=True: (whether every name and
    shape matched, why not)."""
    try:
        res = model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True)
        return not res.missing_keys and not res.unexpected_keys, str(res)
    except RuntimeError as e:
        return False, str(e)[:2000]


def main(d):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    tensors, meta = stio.read(os.path.join(d, "sj_in.safetensors"))
    spec = json.loads(meta["spec"])
    views = torch.from_numpy(tensors.pop("views"))
    actions = torch.from_numpy(tensors.pop("actions"))
    model = SeqJEPA(spec, actions.shape[-1])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model.train()
    mean = torch.tensor(spec["mean"]).view(1, 1, 1, 1, 3)
    std = torch.tensor(spec["std"]).view(1, 1, 1, 1, 3)
    z, z_agg, z_hat, z_tgt, loss = model(views, actions, spec["m"], mean, std)
    # VICReg's variance and covariance terms on the batch's online encodings
    # (model.var_weight, model.cov_weight), as in Bardes, Ponce and LeCun (2022).
    flat = z.reshape(-1, z.shape[-1])
    dim = flat.shape[1]
    spread = torch.sqrt(flat.var(dim=0) + 1e-4)
    cov = torch.cov(flat.T)
    off = cov - torch.diag(torch.diagonal(cov))
    reg = (spec.get("var_weight", 0) * F.relu(1 - spread).sum() + spec.get("cov_weight", 0) * (off ** 2).sum()) / dim
    (loss + reg).backward()
    res = {"z": z.detach().numpy(), "z_agg": z_agg.detach().numpy(), "z_hat": z_hat.detach().numpy(),
           "z_tgt": z_tgt.numpy(), "loss": np.array([loss.item()], np.float32),
           "reg": np.array([reg.item()], np.float32)}
    for k, p in model.named_parameters():
        if p.grad is not None:
            res["grad." + k] = p.grad.numpy()
    for k, b in model.named_buffers():
        res[k] = b.numpy()
    stio.write(os.path.join(d, "sj_torch.safetensors"), res)
    print(f"seq-JEPA reference: loss {loss.item():.6f}, "
          f"{sum(p.numel() for p in model.parameters())} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
