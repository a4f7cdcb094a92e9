#!/usr/bin/env python3
"""Writes tests/fixtures/onnx_models.json: what each model in this folder
holds by the account of the torch model it was exported from (module
hooks, neither ONNX nor nnsched): MACs of every conv (N x K x C/G x R x S x
Ho x Wo) and linear layer (N x C x K), and how many convs, grouped convs,
depthwise convs and linear layers there are.

usage:  pip install torch torchvision onnx && python3 models/expected.py
"""
import json
import os

import torch

from export import MODELS

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'tests', 'fixtures', 'onnx_models.json')
SKIP = ('vit_b_16', 'swin_t')  # not imported: no figures to compare


def count(name):
    make, shape = MODELS[name]
    model = make().eval()
    out = {'convs': 0, 'grouped_convs': 0, 'depthwise_convs': 0, 'dense': 0, 'macs': 0}

    def conv(m, _, y):
        g = m.groups
        out['convs'] += 1
        if g > 1:
            depthwise = g == m.in_channels and g == m.out_channels
            out['depthwise_convs' if depthwise else 'grouped_convs'] += 1
        kh, kw = m.kernel_size
        out['macs'] += y.numel() * (m.in_channels // g) * kh * kw

    def linear(m, _, y):
        out['dense'] += 1
        out['macs'] += y.numel() * m.in_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(linear)
    with torch.no_grad():
        model(torch.randn(*shape))
    return out


if __name__ == '__main__':
    res = {n: count(n) for n in MODELS if n not in SKIP}
    for n, r in res.items():
        print(n, r)
    with open(OUT, 'w') as fh:
        json.dump(res, fh, indent=1, sort_keys=True)
        fh.write('\n')
