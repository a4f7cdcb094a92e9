#!/usr/bin/env python3
"""Rebuilds the transformer, LLM and segmentation models in this folder and
writes tests/fixtures/transformer_models.json, their MACs as torch counts
them (torch.utils.flop_counter: every matrix product and conv; activation
products are the batched products `bmm` and attention kernels).

Models are built with random weights (nothing is downloaded) and exported
as their users export them today: BERT and the torchvision models with the
legacy exporter (opset 17), GPT-2 and the Llama-style decoder with the
dynamo exporter (opset 18, weights in a side file). Every file is then
stripped like export.py's: initializers of more than 1024 elements become
ConstantOfShape nodes, and the side file is dropped.

usage:  pip install torch torchvision transformers onnx onnxscript
        python3 models/export_transformers.py [NAME ...]   (default: all)
"""
import json
import os
import sys
import tempfile

import onnx
import torch
import torchvision.models as tv
import torchvision.models.segmentation as seg
from torch.utils.flop_counter import FlopCounterMode

from export import HERE, strip

OUT = os.path.join(HERE, '..', 'tests', 'fixtures', 'transformer_models.json')
SEQ = 128
PAST = 127  # the decode step attends to 128 positions, like the prefill


def bert():
    from transformers import BertConfig, BertModel
    return BertModel(BertConfig(attn_implementation='eager'), add_pooling_layer=False)


def gpt2():
    from transformers import GPT2Config, GPT2Model
    return GPT2Model(GPT2Config(attn_implementation='eager'))


class Gpt2Decode(torch.nn.Module):
    """One decode step of GPT-2: a new token attends to a KV cache of PAST
    positions, given per layer as two inputs [1, heads, PAST, 64]."""

    def __init__(self):
        super().__init__()
        self.model = gpt2()

    def forward(self, input_ids, *past):
        from transformers import DynamicCache
        cache = DynamicCache()
        for i in range(len(past) // 2):
            cache.update(past[2 * i], past[2 * i + 1], i)
        return self.model(input_ids, past_key_values=cache, use_cache=True).last_hidden_state


def llama():
    from transformers import LlamaConfig, LlamaModel
    return LlamaModel(LlamaConfig(
        hidden_size=512, intermediate_size=1376, num_hidden_layers=4,
        num_attention_heads=8, num_key_value_heads=4, vocab_size=32000,
        attn_implementation='eager'))


class Hidden(torch.nn.Module):
    """A text model's last hidden state (one output, no cache)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids, use_cache=False).last_hidden_state


class Out(torch.nn.Module):
    """A segmentation model's 'out' map."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)['out']


class UNet(torch.nn.Module):
    """A small U-Net: 1D and 2D transposed convs (kernel 2 stride 2, kernel
    4 stride 2 pad 1), a nearest upsample and skip connections."""

    def __init__(self, c=16):
        super().__init__()
        nn = torch.nn
        block = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(),
                                           nn.Conv2d(o, o, 3, padding=1), nn.ReLU())
        self.enc1, self.enc2, self.enc3 = block(3, c), block(c, 2 * c), block(2 * c, 4 * c)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = block(4 * c, 2 * c)
        self.up1 = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1, groups=2)
        self.dec1 = block(2 * c, c)
        self.head = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(e3), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        coarse = torch.nn.functional.interpolate(self.head(self.pool(d1)), scale_factor=2.0,
                                                 mode='nearest')
        return coarse + self.head(d1)


def roberta():
    from transformers import RobertaConfig, RobertaModel
    return RobertaModel(RobertaConfig(attn_implementation='eager'), add_pooling_layer=False)


def phi():
    """Phi's partial rotary embedding (half of each head rotated) and
    parallel attention and MLP."""
    from transformers import PhiConfig, PhiModel
    return PhiModel(PhiConfig(hidden_size=256, intermediate_size=1024, num_hidden_layers=2,
                              num_attention_heads=8, vocab_size=1000,
                              attn_implementation='eager'))


class MobileVit(torch.nn.Module):
    """MobileViT-S: convs, and attention over patches unfolded from maps
    (one sequence per pixel of a 2x2 patch) folded back."""

    def __init__(self):
        super().__init__()
        from transformers import MobileViTConfig, MobileViTModel
        self.model = MobileViTModel(MobileViTConfig(attn_implementation='eager'))

    def forward(self, x):
        return self.model(pixel_values=x).last_hidden_state


def ids(n):
    return torch.randint(0, 1000, (1, n))


def decode_inputs():
    past = []
    for _ in range(12):
        past += [torch.randn(1, 12, PAST, 64), torch.randn(1, 12, PAST, 64)]
    return (ids(1), *past)


# name -> (constructor, example inputs, input names, dynamo)
MODELS = {
    'bert_base': (lambda: Hidden(bert()), lambda: (ids(SEQ),), ['input_ids'], False),
    'gpt2': (lambda: Hidden(gpt2()), lambda: (ids(SEQ),), ['input_ids'], True),
    'gpt2_decode': (Gpt2Decode, decode_inputs,
                    ['input_ids'] + [f'past_{kv}_{i}' for i in range(12) for kv in 'kv'], True),
    'llama_tiny': (lambda: Hidden(llama()), lambda: (ids(SEQ),), ['input_ids'], True),
    'fcn_resnet50': (lambda: Out(seg.fcn_resnet50(weights=None, weights_backbone=None,
                                                  aux_loss=False)),
                     lambda: (torch.randn(1, 3, 224, 224),), ['input'], False),
    'lraspp_mobilenet_v3': (lambda: Out(seg.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None)),
        lambda: (torch.randn(1, 3, 224, 224),), ['input'], False),
    'roberta_base': (lambda: Hidden(roberta()), lambda: (ids(SEQ),), ['input_ids'], False),
    'phi_tiny': (lambda: Hidden(phi()), lambda: (ids(64),), ['input_ids'], True),
    'mobilevit_s': (MobileVit, lambda: (torch.randn(1, 3, 256, 256),), ['input'], False),
    'deeplabv3_mobilenet_v3': (lambda: Out(seg.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, aux_loss=False)),
        lambda: (torch.randn(1, 3, 224, 224),), ['input'], True),
    'unet_small': (UNet, lambda: (torch.randn(1, 3, 128, 128),), ['input'], True),
    # Window and grid attention written as Einsums.
    'maxvit_t': (lambda: tv.maxvit_t(weights=None), lambda: (torch.randn(1, 3, 224, 224),),
                 ['input'], False),
    # Exported by export.py (torch 2.5.1); counted here.
    'vit_b_16': (lambda: tv.vit_b_16(weights=None), lambda: (torch.randn(1, 3, 224, 224),),
                 None, False),
    'swin_t': (lambda: tv.swin_t(weights=None), lambda: (torch.randn(1, 3, 224, 224),),
               None, False),
}

PRODUCTS = ('bmm', 'baddbmm', '_scaled_dot_product')


def count(model, inputs):
    """All MACs, and those of activation products."""
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*inputs)
    total, products = 0, 0
    for op, flops in fc.get_flop_counts()['Global'].items():
        total += flops
        if any(str(op).split('.')[1].startswith(p) for p in PRODUCTS):
            products += flops
    return {'macs': total // 2, 'product_macs': products // 2}


# Exported with a symbolic sequence length (`--dim sequence=N` sets it).
DYNAMIC = {'phi_tiny': {'input_ids': {1: 'sequence'}}}


def export(name, model, inputs, names, dynamo):
    path = os.path.join(HERE, name + '.onnx')
    with torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, name + '.onnx')
        if dynamo:
            dynamic = {k: {ax: torch.export.Dim(d, min=2, max=4096) for ax, d in v.items()}
                       for k, v in DYNAMIC.get(name, {}).items()} or None
            torch.onnx.export(model, inputs, out, dynamo=True, opset_version=18,
                              input_names=names, output_names=['output'],
                              dynamic_shapes=dynamic, external_data=True)
        else:
            torch.onnx.export(model, inputs, out, dynamo=False, opset_version=17,
                              input_names=names, output_names=['output'],
                              do_constant_folding=True)
        m = strip(onnx.load(out, load_external_data=True))
    onnx.checker.check_model(m)
    onnx.save(m, path)
    print('%-20s %8d bytes' % (name, os.path.getsize(path)))


def main(names):
    torch.manual_seed(0)
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with open(OUT) as fh:
            figures = json.load(fh)
    except FileNotFoundError:
        figures = {}
    for name in names or MODELS:
        make, inputs, input_names, dynamo = MODELS[name]
        model, x = make().eval(), inputs()
        figures[name] = count(model, x)
        print(name, figures[name])
        if input_names is not None:
            export(name, model, x, input_names, dynamo)
    with open(OUT, 'w') as fh:
        json.dump(figures, fh, indent=1, sort_keys=True)
        fh.write('\n')


if __name__ == '__main__':
    main(sys.argv[1:])
