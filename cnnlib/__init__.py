"""cnnlib: convolutional neural networks from scratch in NumPy.

Layout everywhere: inputs are (N, C, H, W) arrays, weights (K, C, F, F), biases (K,);
K filters of size F, stride S, padding P. Convolution means cross-correlation, as in every
deep-learning framework; output sizes floor, as in PyTorch. The book's figure helpers live
with the book (book/figures.py), so ``import cnnlib`` needs no Matplotlib.
"""
from .conv import (zero_pad, conv2d_naive, im2col, conv2d_im2col, conv2d_backward_naive, col2im,
                   conv2d_backward_im2col, conv2d, conv2d_backward)
from .pool import max_pool2d, avg_pool2d, max_pool2d_with_indices, max_pool2d_backward, avg_pool2d_backward
from .sizes import conv_output_size, conv_param_count, dense_param_count, mlp_param_count, receptive_field
from .activations import relu, relu_backward, softmax
from .losses import cross_entropy, cross_entropy_backward
from .dense import dense_forward, dense_backward
from .gradcheck import numeric_gradient, relative_error, grad_check
from .data import load_digits, make_shapes, load_photo, SHAPE_CLASSES
from .data import make_objects, make_parts, draw_scene, part_patch, OBJECT_CLASSES, PART_CLASSES
from .train import fit, predict, accuracy
from .layers import Layer, Parameter, Conv2D, ReLU, MaxPool2D, AvgPool2D, Flatten, Dense, Sequential
from .optim import SGD, Adam
from . import models, engine
from .models import lenet_digits, mlp_digits

__all__ = [
    "zero_pad", "conv2d_naive", "im2col", "conv2d_im2col", "conv2d_backward_naive", "col2im",
    "conv2d_backward_im2col", "conv2d", "conv2d_backward",
    "max_pool2d", "avg_pool2d", "max_pool2d_with_indices", "max_pool2d_backward", "avg_pool2d_backward",
    "conv_output_size", "conv_param_count", "dense_param_count", "mlp_param_count", "receptive_field",
    "relu", "relu_backward", "softmax", "cross_entropy", "cross_entropy_backward",
    "dense_forward", "dense_backward", "numeric_gradient", "relative_error", "grad_check",
    "load_digits", "make_shapes", "load_photo", "SHAPE_CLASSES",
    "make_objects", "make_parts", "draw_scene", "part_patch", "OBJECT_CLASSES", "PART_CLASSES",
    "fit", "predict", "accuracy",
    "Layer", "Parameter", "Conv2D", "ReLU", "MaxPool2D", "AvgPool2D", "Flatten", "Dense", "Sequential",
    "SGD", "Adam", "models", "lenet_digits", "mlp_digits",
]
