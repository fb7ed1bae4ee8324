"""PyTorch reference for the nn engine's blocks (run by tests/test_nn_torch.c).

usage: nn_ref.py DIR NAME...
For each NAME, reads DIR/NAME_in.safetensors: the block's tensors under their
checkpoint names, "input", "dout" (the gradient of the output) and metadata "spec"
(JSON). Builds the block as PyTorch modules (torchvision's ResNet names,
nn.TransformerEncoder, nn.Sequential), loads the tensors with strict=True, runs one
training-mode forward and backward, then an eval-mode forward, and writes
DIR/NAME_torch.safetensors: "out", "out_eval", "grad.input", "grad.<param>" for every
parameter, and every buffer after the training forward.
Exit status 0 unless loading or running fails."""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + idt)


class ResNet(nn.Module):
    """torchvision.models.resnet's layout (fc = Identity), with the CIFAR stem option."""

    def __init__(self, widths, blocks, cifar, in_ch=3, pool_grid=1):
        super().__init__()
        if cifar:
            self.conv1 = nn.Conv2d(in_ch, widths[0], 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_ch, widths[0], 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        cin = widths[0]
        for i in range(4):
            layer = []
            for j in range(blocks[i]):
                stride = 2 if i > 0 and j == 0 else 1
                layer.append(BasicBlock(cin, widths[i], stride))
                cin = widths[i]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(pool_grid)
        self.fc = nn.Identity()

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(spec):
    kind = spec["kind"]
    if kind == "resnet":
        return ResNet(spec["widths"], spec["blocks"], spec["cifar"], spec["in_ch"], spec.get("pool_grid", 1))
    if kind == "transformer":
        layer = nn.TransformerEncoderLayer(spec["e"], spec["heads"], spec["ffn"], dropout=0.0,
                                           batch_first=True)
        norm = nn.LayerNorm(spec["e"]) if spec["final_norm"] else None
        return nn.TransformerEncoder(layer, spec["layers"], norm=norm)
    if kind == "mlp":
        mods, d = [], spec["dims"]
        for i in range(len(d) - 1):
            mods.append(nn.Linear(d[i], d[i + 1], bias=bool(spec["bias"][i])))
            if i < len(d) - 2 or spec["last_act"]:
                if spec["bn"]:
                    mods.append(nn.BatchNorm1d(d[i + 1], affine=bool(spec["bn_affine"])))
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)
    raise ValueError(f"unknown block kind {kind!r}")


def run(d, name):
    tensors, meta = stio.read(os.path.join(d, f"{name}_in.safetensors"))
    spec = json.loads(meta["spec"])
    prefix = spec["prefix"] + "."
    model = build(spec)
    state = {k[len(prefix):]: torch.from_numpy(v) for k, v in tensors.items()
             if k.startswith(prefix)}
    model.load_state_dict(state, strict=True)
    model.train()
    x = torch.from_numpy(tensors["input"]).requires_grad_(True)
    out = model(x)
    (out * torch.from_numpy(tensors["dout"])).sum().backward()
    res = {"out": out.detach().numpy(), "grad.input": x.grad.numpy()}
    model.eval()  # then the same input in eval mode, with the updated running statistics
    with torch.no_grad():
        res["out_eval"] = model(x.detach()).numpy()
    for k, p in model.named_parameters():
        res["grad." + prefix + k] = p.grad.numpy()
    for k, b in model.named_buffers():
        res[prefix + k] = b.numpy()
    stio.write(os.path.join(d, f"{name}_torch.safetensors"), res)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, output "
          f"{tuple(out.shape)}")


def main(argv):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    for name in argv[2:]:
        run(argv[1], name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
