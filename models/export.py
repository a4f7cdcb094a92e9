#!/usr/bin/env python3
"""Rebuilds the ONNX models in this folder.

Each torchvision model is built with random weights (nothing is
downloaded), exported to ONNX (opset 17, batch 1, eval mode, constants
folded) and stripped: every initializer of more than 1024 elements is
replaced by a ConstantOfShape of the same shape and type, so the file is a
few kB and importers still infer every shape.

usage:  pip install torch torchvision onnx
        python3 models/export.py [NAME ...]      (default: all)
"""
import os
import sys

import onnx
import torch
import torchvision.models as tv
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(784, 500), torch.nn.ReLU(),
        torch.nn.Linear(500, 250), torch.nn.ReLU(),
        torch.nn.Linear(250, 10))


# name -> (constructor, input shape)
MODELS = {
    'alexnet': (lambda: tv.alexnet(weights=None), (1, 3, 224, 224)),
    'vgg16': (lambda: tv.vgg16(weights=None), (1, 3, 224, 224)),
    'resnet50': (lambda: tv.resnet50(weights=None), (1, 3, 224, 224)),
    'googlenet': (lambda: tv.googlenet(weights=None, aux_logits=False, init_weights=False), (1, 3, 224, 224)),
    'inception_v3': (lambda: tv.inception_v3(weights=None, aux_logits=False, init_weights=False), (1, 3, 299, 299)),
    'densenet121': (lambda: tv.densenet121(weights=None), (1, 3, 224, 224)),
    'mobilenet_v2': (lambda: tv.mobilenet_v2(weights=None), (1, 3, 224, 224)),
    'efficientnet_b0': (lambda: tv.efficientnet_b0(weights=None), (1, 3, 224, 224)),
    'shufflenet_v2': (lambda: tv.shufflenet_v2_x1_0(weights=None), (1, 3, 224, 224)),
    'resnext50': (lambda: tv.resnext50_32x4d(weights=None), (1, 3, 224, 224)),
    'squeezenet': (lambda: tv.squeezenet1_0(weights=None), (1, 3, 224, 224)),
    'mlp': (mlp, (1, 784)),
    # Transformers: nnsched stops at their first unsupported node.
    'vit_b_16': (lambda: tv.vit_b_16(weights=None), (1, 3, 224, 224)),
    'swin_t': (lambda: tv.swin_t(weights=None), (1, 3, 224, 224)),
}


def strip(model, limit=1024):
    """Replaces large initializers by ConstantOfShape nodes."""
    g = model.graph
    keep, nodes = [], []
    for init in g.initializer:
        n = 1
        for d in init.dims:
            n *= d
        if n <= limit:
            keep.append(init)
            continue
        shape_name = init.name + '__shape'
        shape = numpy_helper.from_array(
            __import__('numpy').array(list(init.dims), dtype='int64'), shape_name)
        nodes.append(helper.make_node('Constant', [], [shape_name], value=shape,
                                      name=init.name + '__shape_const'))
        zero = helper.make_tensor('value', init.data_type, [1], [0])
        nodes.append(helper.make_node('ConstantOfShape', [shape_name], [init.name],
                                      value=zero, name=init.name + '__zeros'))
    names = {i.name for i in g.initializer} - {i.name for i in keep}
    inputs = [i for i in g.input if i.name not in names]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.input[:]
    g.input.extend(inputs)
    rest = list(g.node)
    del g.node[:]
    g.node.extend(nodes + rest)
    return model


def export(name):
    make, shape = MODELS[name]
    model = make().eval()
    path = os.path.join(HERE, name + '.onnx')
    with torch.no_grad():
        torch.onnx.export(model, (torch.randn(*shape),), path, opset_version=17,
                          input_names=['input'], output_names=['output'],
                          do_constant_folding=True)
    m = strip(onnx.load(path))
    onnx.checker.check_model(m)
    onnx.save(m, path)
    print('%-16s %8d bytes' % (name, os.path.getsize(path)))


if __name__ == '__main__':
    torch.manual_seed(0)
    torch.backends.mha.set_fastpath_enabled(False)  # ViT exports plain ops
    for n in sys.argv[1:] or MODELS:
        export(n)
