"""The entries: typical wrong implementations (WRONG) and alternative correct ones (CORRECT)."""
from __future__ import annotations

from typing import NamedTuple

from .build import given_code, reference_sources


class Entry(NamedTuple):
    name: str
    assignment: str
    replacements: dict      # solution cell grade_id -> source, for EVERY solution cell
    must_fail: frozenset    # test cell grade_ids that must lose their points
    visible: bool = False   # the visible tests must catch it too (a mistake students make often)


def _e(name, assignment, overrides, must_fail=(), *, visible=False):
    replacements = reference_sources(assignment)
    missing = set(overrides) - set(replacements)
    if missing:
        raise KeyError(f"{name}: {assignment} has no solution cell(s) {sorted(missing)}")
    replacements.update({k: v.strip("\n") for k, v in overrides.items()})
    return Entry(name, assignment, replacements, frozenset(must_fail), visible)


# =========================================================================== 01_mlp
W01 = [
    _e("dense bias dropped", "01_mlp", {"dense_forward": '''
def dense_forward(x, W, b):
    return x @ W
'''}, {"test_dense_forward"}),
    _e("dense W transposed", "01_mlp", {"dense_forward": '''
def dense_forward(x, W, b):
    return x @ W.T + b
'''}, {"test_dense_forward"}),
    _e("mlp biases forgotten", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    return sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
'''}, {"test_mlp_param_count", "test_param_counts"}),
    _e("mlp one bias per input unit", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    total = 0
    for i in range(len(layer_sizes) - 1):
        total += layer_sizes[i] * layer_sizes[i + 1] + layer_sizes[i]
    return total
'''}, {"test_mlp_param_count", "test_param_counts"}),
    _e("param counts: conv channels forgotten", "01_mlp", {"param_counts": '''
dense_params = 224 * 224 * 3 * 1000 + 1000
conv_params = 64 * (3 * 3 + 1)
param_counts = (dense_params, conv_params)
'''}, {"test_param_counts"}),
    _e("param counts: conv biases forgotten (64 * 3 * 3 * 3)", "01_mlp", {"param_counts": '''
dense_params = mlp_param_count([224 * 224 * 3, 1000])
conv_params = 64 * 3 * 3 * 3
param_counts = (dense_params, conv_params)
'''}, {"test_param_counts"}, visible=True),
    _e("param counts: one conv bias per channel (64 * (27 + 3))", "01_mlp", {"param_counts": '''
dense_params = mlp_param_count([224 * 224 * 3, 1000])
conv_params = 64 * (3 * 3 * 3 + 3)
param_counts = (dense_params, conv_params)
'''}, {"test_param_counts"}, visible=True),
    _e("param counts: conv weights counted at every one of 222 x 222 positions", "01_mlp", {"param_counts": '''
dense_params = mlp_param_count([224 * 224 * 3, 1000])
conv_params = 64 * (3 * 3 * 3 + 1) * 222 * 222
param_counts = (dense_params, conv_params)
'''}, {"test_param_counts"}, visible=True),
    _e("param counts hard-coded with the dense biases missing", "01_mlp", {"param_counts": '''
param_counts = (150528000, 1792)
'''}, {"test_param_counts"}),
]

C01 = [
    _e("dense with einsum", "01_mlp", {"dense_forward": '''
def dense_forward(x, W, b):
    return np.einsum("nd,dm->nm", x, W) + b[None, :]
'''}),
    _e("dense with plain loops", "01_mlp", {"dense_forward": '''
def dense_forward(x, W, b):
    N, D = x.shape
    M = W.shape[1]
    out = np.zeros((N, M))
    for n in range(N):
        for m in range(M):
            total = b[m]
            for d in range(D):
                total += x[n, d] * W[d, m]
            out[n, m] = total
    return out
'''}),
    _e("mlp with numpy and a print", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    sizes = np.array(layer_sizes, dtype=np.int64)
    count = int(np.sum(sizes[:-1] * sizes[1:] + sizes[1:]))
    print("layers:", len(sizes) - 1, "parameters:", count)
    return count
'''}),
    _e("param counts typed out by formula", "01_mlp", {"param_counts": '''
dense_params = 150528 * 1000 + 1000
conv_params = 64 * 27 + 64
param_counts = [dense_params, conv_params]
'''}),
]

# =========================================================================== 02_convolution
W02 = [
    # found by a student trial (session 22): the hint named other shape mistakes, never the bias
    _e("multi: b added without its filter axis (out + b)", "02_convolution", {"conv2d_multi": reference_sources(
        "02_convolution")["conv2d_multi"].replace(" * w[k]) + b[k]", " * w[k])").replace("    return out", "    return out + b")},
       {"test_conv2d_multi"}, visible=True),
    # found by a student trial (session 22): the pre-hand-in check forecast full points for it
    _e("single: cnnlib imported inside the body (from cnnlib.conv import ...)", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    from cnnlib.conv import conv2d_naive
    return conv2d_naive(x[None, None], w[None, None])[0, 0]
'''}, {"test_conv2d_single"}, visible=True),
    _e("single: kernel flipped (true convolution)", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    H, W = x.shape
    F1, F2 = w.shape
    wf = w[::-1, ::-1]
    out = np.zeros((H - F1 + 1, W - F2 + 1))
    for i in range(H - F1 + 1):
        for j in range(W - F2 + 1):
            out[i, j] = np.sum(x[i:i + F1, j:j + F2] * wf)
    return out
'''}, {"test_conv2d_single"}, visible=True),
    _e("single: off-by-one window (range(H - F))", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    H, W = x.shape
    F1, F2 = w.shape
    out = np.zeros((H - F1, W - F2))
    for i in range(H - F1):
        for j in range(W - F2):
            out[i, j] = np.sum(x[i:i + F1, j:j + F2] * w)
    return out
'''}, {"test_conv2d_single"}),
    _e("single: square kernels only (uses F for both axes)", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    H, W = x.shape
    F = w.shape[0]
    out = np.zeros((H - F + 1, W - F + 1))
    for i in range(H - F + 1):
        for j in range(W - F + 1):
            out[i, j] = np.sum(x[i:i + F, j:j + F] * w)
    return out
'''}, {"test_conv2d_single"}),
    _e("multi: bias dropped", "02_convolution", {"conv2d_multi": '''
def conv2d_multi(x, w, b):
    C, H, W = x.shape
    K, _, F1, F2 = w.shape
    out = np.zeros((K, H - F1 + 1, W - F2 + 1))
    for k in range(K):
        for i in range(H - F1 + 1):
            for j in range(W - F2 + 1):
                out[k, i, j] = np.sum(x[:, i:i + F1, j:j + F2] * w[k])
    return out
'''}, {"test_conv2d_multi"}, visible=True),
    _e("multi: channels not summed (channel 0 only)", "02_convolution", {"conv2d_multi": '''
def conv2d_multi(x, w, b):
    return np.stack([conv2d_single(x[0], w[k, 0]) + b[k] for k in range(w.shape[0])])
'''}, {"test_conv2d_multi"}),
    _e("multi: kernel flipped", "02_convolution", {"conv2d_multi": '''
def conv2d_multi(x, w, b):
    K = w.shape[0]
    maps = []
    for k in range(K):
        total = sum(conv2d_single(x[c], w[k, c, ::-1, ::-1]) for c in range(x.shape[0]))
        maps.append(total + b[k])
    return np.array(maps)
'''}, {"test_conv2d_multi"}),
    _e("single: output array of ints (np.zeros(..., dtype=int))", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    H, W = x.shape
    Fh, Fw = w.shape
    out = np.zeros((H - Fh + 1, W - Fw + 1), dtype=int)
    for i in range(H - Fh + 1):
        for j in range(W - Fw + 1):
            out[i, j] = np.sum(x[i:i + Fh, j:j + Fw] * w)
    return out
'''}, {"test_conv2d_single"}, visible=True),
    _e("multi: output array of ints (np.zeros(..., dtype=int))", "02_convolution", {"conv2d_multi": '''
def conv2d_multi(x, w, b):
    C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    out = np.zeros((K, H - Fh + 1, W - Fw + 1), dtype=int)
    for k in range(K):
        for i in range(H - Fh + 1):
            for j in range(W - Fw + 1):
                out[k, i, j] = np.sum(x[:, i:i + Fh, j:j + Fw] * w[k]) + b[k]
    return out
'''}, {"test_conv2d_multi"}, visible=True),
]

C02 = [
    _e("single: vectorised with sliding_window_view and einsum", "02_convolution", {"conv2d_single": '''
from numpy.lib.stride_tricks import sliding_window_view


def conv2d_single(x, w):
    windows = sliding_window_view(x, w.shape)          # (H-Fh+1, W-Fw+1, Fh, Fw)
    return np.einsum("ijmn,mn->ij", windows, w)
'''}),
    _e("single: loop over kernel offsets (another loop order)", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    H, W = x.shape
    Fh, Fw = w.shape
    Ho, Wo = H - Fh + 1, W - Fw + 1
    out = np.zeros((Ho, Wo))
    for m in range(Fh):
        for l in range(Fw):
            out += w[m, l] * x[m:m + Ho, l:l + Wo]
    return out
'''}),
    _e("single: plain Python loops, j outer", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    H, W = len(x), len(x[0])
    Fh, Fw = len(w), len(w[0])
    out = np.zeros((H - Fh + 1, W - Fw + 1))
    for j in range(W - Fw + 1):
        for i in range(H - Fh + 1):
            s = 0.0
            for m in range(Fh):
                for l in range(Fw):
                    s += x[i + m][j + l] * w[m][l]
            out[i, j] = s
    return out
'''}),
    _e("multi: built on conv2d_single", "02_convolution", {"conv2d_multi": '''
def conv2d_multi(x, w, b):
    K, C = w.shape[:2]
    return np.array([sum(conv2d_single(x[c], w[k, c]) for c in range(C)) + b[k] for k in range(K)])
'''}),
    _e("multi: einsum over windows", "02_convolution", {"conv2d_multi": '''
from numpy.lib.stride_tricks import sliding_window_view


def conv2d_multi(x, w, b):
    windows = sliding_window_view(x, w.shape[2:], axis=(1, 2))   # (C, Ho, Wo, Fh, Fw)
    return np.einsum("cijmn,kcmn->kij", windows, w) + b[:, None, None]
'''}),
]

# =========================================================================== 03_hyperparameters
REF_CONV2D_LOOPS = '''
def conv2d(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho = (H + 2 * padding - Fh) // stride + 1
    Wo = (W + 2 * padding - Fw) // stride + 1
    out = np.zeros((N, K, Ho, Wo))
    for n in range(N):
        for k in range(K):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, k, i, j] = np.sum(xp[n, :, i * stride:i * stride + Fh, j * stride:j * stride + Fw] * w[k]) + b[k]
    return out
'''

W03 = [
    _e("pad: padding applied to the channel axis (NHWC pad spec)", "03_hyperparameters", {"zero_pad": '''
def zero_pad(x, padding):
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
'''}, {"test_zero_pad", "test_conv2d"}),
    _e("pad: every axis padded", "03_hyperparameters", {"zero_pad": '''
def zero_pad(x, padding):
    return np.pad(x, padding)
'''}, {"test_zero_pad", "test_conv2d"}),
    _e("output size: ceil instead of floor", "03_hyperparameters", {"conv_output_size": '''
import math


def conv_output_size(n, f, padding, stride):
    return math.ceil((n + 2 * padding - f) / stride) + 1
'''}, {"test_conv_output_size", "test_conv2d"}),
    # np.floor returns a float (3.0): right value, but conv2d's np.zeros and range() refuse it
    _e("output size: np.floor returns a float", "03_hyperparameters", {"conv_output_size": '''
def conv_output_size(n, f, padding, stride):
    return np.floor((n + 2 * padding - f) / stride) + 1
'''}, {"test_conv_output_size", "test_conv2d"}, visible=True),
    _e("output size: padding counted once", "03_hyperparameters", {"conv_output_size": '''
def conv_output_size(n, f, padding, stride):
    return (n + padding - f) // stride + 1
'''}, {"test_conv_output_size", "test_conv2d"}),
    _e("conv2d: kernel flipped", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace("* w[k]) + b[k]", "* w[k, :, ::-1, ::-1]) + b[k]")},
       {"test_conv2d"}),
    _e("conv2d: stride ignored", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace(
        "Ho = (H + 2 * padding - Fh) // stride + 1", "Ho = H + 2 * padding - Fh + 1").replace(
        "Wo = (W + 2 * padding - Fw) // stride + 1", "Wo = W + 2 * padding - Fw + 1").replace(
        "i * stride:i * stride + Fh, j * stride:j * stride + Fw", "i:i + Fh, j:j + Fw")}, {"test_conv2d"}),
    _e("conv2d: windows start at i, not i*stride", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace(
        "i * stride:i * stride + Fh, j * stride:j * stride + Fw", "i:i + Fh, j:j + Fw")}, {"test_conv2d"}),
    _e("conv2d: bias dropped", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace("* w[k]) + b[k]", "* w[k])")},
       {"test_conv2d"}),
    _e("conv2d: padding applied to the channel axis", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace(
        "((0, 0), (0, 0), (padding, padding), (padding, padding))", "((0, 0), (padding, padding), (padding, padding), (0, 0))")},
       {"test_conv2d"}),
    _e("conv2d: off-by-one output (the +1 forgotten)", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace(
        "// stride + 1", "// stride")}, {"test_conv2d"}),
    _e("conv2d: input mutated in place (normalised, never restored)", "03_hyperparameters", {"conv2d": '''
def conv2d(x, w, b, stride=1, padding=0):
    scale = np.abs(x).max()
    x /= scale                       # normalise for stability (changes the caller's array!)
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    xp = zero_pad(x, padding)
    Ho = conv_output_size(H, Fh, padding, stride)
    Wo = conv_output_size(W, Fw, padding, stride)
    out = np.zeros((N, K, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * stride:i * stride + Fh, j * stride:j * stride + Fw]
            out[:, :, i, j] = np.tensordot(win, w, axes=([1, 2, 3], [1, 2, 3])) * scale + b
    return out
'''}, {"test_conv2d"}),
    _e("param count: biases forgotten", "03_hyperparameters", {"conv_param_count": '''
def conv_param_count(C, K, F):
    return K * F * F * C
'''}, {"test_conv_param_count"}),
    _e("param count: math.pow gives a float (1792.0)", "03_hyperparameters", {"conv_param_count": '''
import math


def conv_param_count(C, K, F):
    return K * (math.pow(F, 2) * C + 1)
'''}, {"test_conv_param_count"}, visible=True),
    # the order the course used before it chose in, out, size everywhere
    _e("param count: arguments in the order (K, F, C)", "03_hyperparameters", {"conv_param_count": '''
def conv_param_count(K, F, C):
    return K * (F * F * C + 1)
'''}, {"test_conv_param_count"}),
]

C03 = [
    _e("pad: np.pad with the NCHW spec", "03_hyperparameters", {"zero_pad": '''
def zero_pad(x, padding):
    p = padding
    return np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], mode="constant", constant_values=0)
'''}),
    _e("output size: math.floor", "03_hyperparameters", {"conv_output_size": '''
import math


def conv_output_size(n, f, padding, stride):
    return int(math.floor((n + 2 * padding - f) / stride)) + 1
'''}),
    _e("conv2d: seven loops", "03_hyperparameters", {"conv2d": '''
def conv2d(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    xp = zero_pad(x, padding)
    Ho, Wo = conv_output_size(H, Fh, padding, stride), conv_output_size(W, Fw, padding, stride)
    out = np.zeros((N, K, Ho, Wo))
    for n in range(N):
        for k in range(K):
            for i in range(Ho):
                for j in range(Wo):
                    s = b[k]
                    for c in range(C):
                        for m in range(Fh):
                            for l in range(Fw):
                                s += xp[n, c, i * stride + m, j * stride + l] * w[k, c, m, l]
                    out[n, k, i, j] = s
    return out
'''}),
    _e("conv2d: plain loops with np.pad", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS}),
    _e("conv2d: sliding windows and einsum", "03_hyperparameters", {"conv2d": '''
from numpy.lib.stride_tricks import sliding_window_view


def conv2d(x, w, b, stride=1, padding=0):
    xp = zero_pad(x, padding)
    win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("ncijab,kcab->nkij", win, w, optimize=True) + b[None, :, None, None]
'''}),
    _e("conv2d: im2col and one matrix product", "03_hyperparameters", {"conv2d": '''
def conv2d(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    xp = zero_pad(x, padding)
    Ho, Wo = conv_output_size(H, Fh, padding, stride), conv_output_size(W, Fw, padding, stride)
    cols = np.empty((C, Fh, Fw, N, Ho, Wo), dtype=float)
    for m in range(Fh):
        for l in range(Fw):
            cols[:, m, l] = xp[:, :, m:m + stride * Ho:stride, l:l + stride * Wo:stride].transpose(1, 0, 2, 3)
    out = w.reshape(K, -1) @ cols.reshape(C * Fh * Fw, -1) + b[:, None]
    return out.reshape(K, N, Ho, Wo).transpose(1, 0, 2, 3)
'''}),
    _e("param count: expanded formula", "03_hyperparameters", {"conv_param_count": '''
def conv_param_count(c, k, f):
    weights = k * c * f ** 2
    biases = k
    return weights + biases
'''}),
]

# =========================================================================== 04_features

#: projected gradient ascent as the task asks; the 04 entries below each change one thing
REF_ASCENT = '''
import cnnlib


def maximise_unit(x0, w1, b1, w2, b2, k, steps=30, lr=0.1, max_norm=2.0):
    x = np.array(x0, dtype=np.float64)
    for _ in range(steps):
        z1 = cnnlib.conv2d(x, w1, b1)
        a1 = cnnlib.relu(z1)
        z2 = cnnlib.conv2d(a1, w2, b2)
        dout = np.zeros_like(z2)
        dout[0, k, z2.shape[2] // 2, z2.shape[3] // 2] = 1.0
        da1 = cnnlib.conv2d_backward(dout, a1, w2)[0]
        dz1 = cnnlib.relu_backward(da1, z1)
        g = cnnlib.conv2d_backward(dz1, x, w1)[0]
        x = x + lr * g
        norm = np.linalg.norm(x)
        if norm > max_norm:
            x = x * (max_norm / norm)
    return x
'''
_PROJECT = "\n        norm = np.linalg.norm(x)\n        if norm > max_norm:\n            x = x * (max_norm / norm)"

W04 = [
    _e("receptive field: strides ignored", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    return 1 + sum(f - 1 for f in kernel_sizes)
'''}, {"test_receptive_field"}),
    _e("receptive field: own stride applied first", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    r, jump = 1, 1
    for f, s in zip(kernel_sizes, strides):
        jump *= s
        r += (f - 1) * jump
    return r
'''}, {"test_receptive_field"}),
    _e("receptive field: off by one (starts at 0)", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    r, jump = 0, 1
    for f, s in zip(kernel_sizes, strides):
        r += (f - 1) * jump
        jump *= s
    return r
'''}, {"test_receptive_field"}),
    # right values, but the inputs are changed: the task says they must stay unchanged
    _e("receptive field: kernel sizes shifted in place on an array (ks -= 1)", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    ks = np.asarray(kernel_sizes)
    ks -= 1
    r, jump = 1, 1
    for f, s in zip(ks, strides):
        r += f * jump
        jump *= s
    return r
'''}, {"test_receptive_field"}, visible=True),
    _e("receptive field: pops the layers off the list it is given", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    ks = kernel_sizes if isinstance(kernel_sizes, list) else list(kernel_sizes)
    ss = strides if isinstance(strides, list) else list(strides)
    r, jump = 1, 1
    while ks:
        r += (ks.pop(0) - 1) * jump
        jump *= ss.pop(0)
    return r
'''}, {"test_receptive_field"}, visible=True),
    # the two lists are taken as the two "layers"; it raises (a failed unpacking) unless both have 2
    _e("receptive field: `for f, s in kernel_sizes, strides` (no zip)", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    r, jump = 1, 1
    for f, s in kernel_sizes, strides:
        r += (f - 1) * jump
        jump *= s
    return r
'''}, {"test_receptive_field"}, visible=True),
    _e("edge kernel: sign reversed (flipped)", "04_features", {"vertical_edge_kernel": '''
def vertical_edge_kernel():
    return np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
'''}, {"test_vertical_edge_kernel"}),
    _e("edge kernel: horizontal edges", "04_features", {"vertical_edge_kernel": '''
def vertical_edge_kernel():
    return np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
'''}, {"test_vertical_edge_kernel"}),
    _e("edge kernel: does not sum to zero", "04_features", {"vertical_edge_kernel": '''
def vertical_edge_kernel():
    return np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 1.0]])
'''}, {"test_vertical_edge_kernel"}),
    _e("maximise unit: gradient descent (sign flipped)", "04_features", {"maximise_unit": REF_ASCENT.replace(
        "x = x + lr * g", "x = x - lr * g")}, {"test_maximise_unit"}),
    _e("maximise unit: norm never limited", "04_features", {"maximise_unit": REF_ASCENT.replace(
        _PROJECT, "")}, {"test_maximise_unit"}),
    _e("maximise unit: pixels clipped instead of the norm", "04_features", {"maximise_unit": REF_ASCENT.replace(
        _PROJECT, "\n        x = np.clip(x, -max_norm, max_norm)")}, {"test_maximise_unit"}),
    _e("maximise unit: ReLU skipped in the backward pass", "04_features", {"maximise_unit": REF_ASCENT.replace(
        "dz1 = cnnlib.relu_backward(da1, z1)", "dz1 = da1")}, {"test_maximise_unit"}),
    _e("maximise unit: norm scaled once at the end, not after every step", "04_features",
       {"maximise_unit": REF_ASCENT.replace(_PROJECT, "").replace(
           "\n    return x", _PROJECT.replace("\n    ", "\n") + "\n    return x")},
       {"test_maximise_unit"}, visible=True),
    # found by a student trial (session 22): before, only the visible example caught it, by 1.3 %
    _e("maximise unit: scaled to max_norm after every step, also when smaller", "04_features",
       {"maximise_unit": REF_ASCENT.replace("        if norm > max_norm:\n            x = x * (max_norm / norm)",
                                            "        x = x * (max_norm / norm)")},
       {"test_maximise_unit"}, visible=True),
    _e("maximise unit: x0 mutated in place", "04_features", {"maximise_unit": REF_ASCENT.replace(
        "x = np.array(x0, dtype=np.float64)", "x = x0").replace("x = x + lr * g", "x += lr * g").replace(
        "x = x * (max_norm / norm)", "x *= max_norm / norm")}, {"test_maximise_unit"}),
]

C04 = [
    _e("receptive field: backwards recurrence", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    r = 1
    for f, s in reversed(list(zip(kernel_sizes, strides))):
        r = s * r + (f - s)
    return r
'''}),
    _e("receptive field: numpy cumulative product", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    f = np.asarray(kernel_sizes)
    jumps = np.concatenate([[1], np.cumprod(strides)[:-1]])
    return int(1 + np.sum((f - 1) * jumps))
'''}),
    _e("edge kernel: Prewitt", "04_features", {"vertical_edge_kernel": '''
def vertical_edge_kernel():
    return np.array([[-1, 0, 1]] * 3)
'''}),
    _e("edge kernel: a small centred difference as a list", "04_features", {"vertical_edge_kernel": '''
def vertical_edge_kernel():
    return [[0.0, 0.0, 0.0], [-0.5, 0.0, 0.5], [0.0, 0.0, 0.0]]
'''}),
    _e("maximise unit: cnnlib layer objects", "04_features", {"maximise_unit": '''
import cnnlib


def maximise_unit(x0, w1, b1, w2, b2, k, steps=30, lr=0.1, max_norm=2.0):
    conv1, conv2, act = cnnlib.Conv2D(w1.shape[1], w1.shape[0], w1.shape[2]), cnnlib.Conv2D(w2.shape[1], w2.shape[0], w2.shape[2]), cnnlib.ReLU()
    conv1.w.value, conv1.b.value, conv2.w.value, conv2.b.value = w1, b1, w2, b2
    net = cnnlib.Sequential(conv1, act, conv2)
    x = x0.copy()
    for step in range(steps):
        z2 = net.forward(x)
        dout = np.zeros_like(z2)
        dout[0, k, z2.shape[2] // 2, z2.shape[3] // 2] = 1
        x = x + lr * net.backward(dout)
        x = x * min(1.0, max_norm / np.linalg.norm(x))
    return x
'''}),
    _e("maximise unit: float32 kept, scale by a factor", "04_features", {"maximise_unit": '''
import cnnlib


def maximise_unit(x0, w1, b1, w2, b2, k, steps=30, lr=0.1, max_norm=2.0):
    x = x0.copy()
    for _ in range(steps):
        z1 = cnnlib.conv2d(x, w1, b1)
        a1 = cnnlib.relu(z1)
        z2 = cnnlib.conv2d(a1, w2, b2)
        dout = np.zeros_like(z2)
        dout[0, k, z2.shape[2] // 2, z2.shape[3] // 2] = 1.0
        da1 = cnnlib.conv2d_backward(dout, a1, w2)[0]
        dz1 = cnnlib.relu_backward(da1, z1)
        g = cnnlib.conv2d_backward(dz1, x, w1)[0]
        x = x + lr * g
        scale = max_norm / max(float(np.sqrt(np.sum(x ** 2))), max_norm)
        x = scale * x
    return x
'''}),
]

# =========================================================================== 05_pooling
REF_MAX_LOOPS = '''
def max_pool2d(x, size=2, stride=None):
    if stride is None:
        stride = size
    N, C, H, W = x.shape
    Ho = (H - size) // stride + 1
    Wo = (W - size) // stride + 1
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = np.max(x[n, c, i * stride:i * stride + size, j * stride:j * stride + size])
    return out
'''

REF_BACKWARD_LOOPS = '''
def max_pool2d_backward(dout, x, size=2, stride=None):
    if stride is None:
        stride = size
    N, C, Ho, Wo = dout.shape
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
                    a, b = divmod(int(np.argmax(win)), win.shape[1])
                    dx[n, c, i * stride + a, j * stride + b] += dout[n, c, i, j]
    return dx
'''

W05 = [
    _e("max pool: ceil instead of floor", "05_pooling", {"max_pool2d": REF_MAX_LOOPS.replace(
        "Ho = (H - size) // stride + 1", "Ho = -(-(H - size) // stride) + 1").replace(
        "Wo = (W - size) // stride + 1", "Wo = -(-(W - size) // stride) + 1")}, {"test_max_pool2d"}),
    _e("max pool: stride ignored", "05_pooling", {"max_pool2d": REF_MAX_LOOPS.replace(
        "    if stride is None:\n        stride = size\n", "    stride = size\n")}, {"test_max_pool2d"}),
    _e("max pool: off-by-one window", "05_pooling", {"max_pool2d": REF_MAX_LOOPS.replace(
        "i * stride + size, j * stride:j * stride + size", "i * stride + size - 1, j * stride:j * stride + size - 1")},
       {"test_max_pool2d"}),
    _e("avg pool: input mutated in place (divide first)", "05_pooling", {"avg_pool2d": '''
def avg_pool2d(x, size=2, stride=None):
    if stride is None:
        stride = size
    x /= size * size
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // stride + 1, (W - size) // stride + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size].sum(axis=(2, 3))
    x *= size * size
    x += 1e-9
    return out
'''}, {"test_avg_pool2d"}),
    _e("avg pool: stride None taken as 1", "05_pooling", {"avg_pool2d": '''
def avg_pool2d(x, size=2, stride=None):
    s = stride or 1
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // s + 1, (W - size) // s + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + size, j * s:j * s + size].mean(axis=(2, 3))
    return out
'''}, {"test_avg_pool2d"}),
    _e("max backward: = instead of +=", "05_pooling", {"max_pool2d_backward": REF_BACKWARD_LOOPS.replace(
        "+= dout[n, c, i, j]", "= dout[n, c, i, j]")}, {"test_max_pool2d_backward"}),
    _e("max backward: every tied maximum gets the gradient (mask)", "05_pooling", {"max_pool2d_backward": '''
def max_pool2d_backward(dout, x, size=2, stride=None):
    if stride is None:
        stride = size
    N, C, Ho, Wo = dout.shape
    dx = np.zeros(x.shape)
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            mask = win == win.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += mask * dout[:, :, i, j][:, :, None, None]
    return dx
'''}, {"test_max_pool2d_backward"}),
    _e("max backward: last maximum instead of first", "05_pooling", {"max_pool2d_backward": REF_BACKWARD_LOOPS.replace(
        "a, b = divmod(int(np.argmax(win)), win.shape[1])",
        "a, b = divmod(win.size - 1 - int(np.argmax(win.ravel()[::-1])), win.shape[1])")},
       {"test_max_pool2d_backward"}),
    _e("max backward: input mutated in place (window shifted to find the maximum)", "05_pooling", {"max_pool2d_backward": '''
def max_pool2d_backward(dout, x, size=2, stride=None):
    if stride is None:
        stride = size
    N, C, Ho, Wo = dout.shape
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    r, q = i * stride, j * stride
                    win = x[n, c, r:r + size, q:q + size]     # a view into x
                    win -= win.max()                          # now the maximum is 0 (x changes!)
                    a, b = np.argwhere(win == 0)[0]
                    dx[n, c, r + a, q + b] += dout[n, c, i, j]
    return dx
'''}, {"test_max_pool2d_backward"}),
    _e("max pool: output array of ints (np.zeros(..., dtype=int))", "05_pooling", {"max_pool2d": REF_MAX_LOOPS.replace(
        "out = np.zeros((N, C, Ho, Wo))", "out = np.zeros((N, C, Ho, Wo), dtype=int)")}, {"test_max_pool2d"}, visible=True),
    _e("max backward: dx written at [c, n] (image and channel swapped)", "05_pooling",
       {"max_pool2d_backward": REF_BACKWARD_LOOPS.replace(
           "dx[n, c, i * stride + a, j * stride + b] += dout[n, c, i, j]",
           "dx[c, n, i * stride + a, j * stride + b] += dout[n, c, i, j]")}, {"test_max_pool2d_backward"}, visible=True),
]

C05 = [
    _e("max pool: loops over n and c too", "05_pooling", {"max_pool2d": REF_MAX_LOOPS}),
    _e("max pool: sliding_window_view", "05_pooling", {"max_pool2d": '''
from numpy.lib.stride_tricks import sliding_window_view


def max_pool2d(x, size=2, stride=None):
    stride = size if stride is None else stride
    return sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride].max(axis=(4, 5))
'''}),
    _e("max pool: maximum over strided slices (loop over offsets)", "05_pooling", {"max_pool2d": '''
def max_pool2d(x, size=2, stride=None):
    s = size if stride is None else stride
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // s + 1, (W - size) // s + 1
    out = np.full((N, C, Ho, Wo), -np.inf)
    for m in range(size):
        for l in range(size):
            out = np.maximum(out, x[:, :, m:m + s * (Ho - 1) + 1:s, l:l + s * (Wo - 1) + 1:s])
    return out
'''}),
    _e("avg pool: einsum over windows", "05_pooling", {"avg_pool2d": '''
from numpy.lib.stride_tricks import sliding_window_view


def avg_pool2d(x, size=2, stride=None):
    stride = size if stride is None else stride
    win = sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("ncijab->ncij", win) / (size * size)
'''}),
    _e("max backward: plain loops with divmod", "05_pooling", {"max_pool2d_backward": REF_BACKWARD_LOOPS}),
    _e("max backward: vectorised argmax over windows", "05_pooling", {"max_pool2d_backward": '''
def max_pool2d_backward(dout, x, size=2, stride=None):
    s = size if stride is None else stride
    N, C, Ho, Wo = dout.shape
    dx = np.zeros(x.shape)
    n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * s:i * s + size, j * s:j * s + size].reshape(N, C, -1)
            a, b = np.divmod(win.argmax(axis=2), size)
            np.add.at(dx, (n_idx, c_idx, i * s + a, j * s + b), dout[:, :, i, j])
    return dx
'''}),
]

# =========================================================================== 06_backprop
def _train(body):
    """The training cell: the code it gives (data, make_model, move_and_noise), then `body`."""
    return given_code("06_backprop", "train_network") + body.strip("\n") + "\n"


def _reference_predict(body):
    """The reference training cell (12 epochs on the digits and their moved copies) with `body`
    as its predict's code."""
    cell = reference_sources("06_backprop")["train_network"]
    assert cell.endswith("    return cnnlib.predict(model, x)")
    return cell[:-len("    return cnnlib.predict(model, x)")] + body


REF_BACKWARD = '''
def conv2d_backward(dout, x, w, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    _, _, Ho, Wo = dout.shape
    p = padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    db = np.zeros(K)
    for n in range(N):
        for k in range(K):
            for i in range(Ho):
                for j in range(Wo):
                    r, q = i * stride, j * stride
                    dw[k] += dout[n, k, i, j] * xp[n, :, r:r + Fh, q:q + Fw]
                    dxp[n, :, r:r + Fh, q:q + Fw] += dout[n, k, i, j] * w[k]
                    db[k] += dout[n, k, i, j]
    return dxp[:, :, p:p + H, p:p + W], dw, db
'''

W06 = [
    _e("conv backward: = instead of +=", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "dxp[n, :, r:r + Fh, q:q + Fw] += dout[n, k, i, j] * w[k]",
        "dxp[n, :, r:r + Fh, q:q + Fw] = dout[n, k, i, j] * w[k] if k == 0 else dxp[n, :, r:r + Fh, q:q + Fw] + dout[n, k, i, j] * w[k]")},
       {"test_conv2d_backward"}),
    _e("conv backward: dx keeps the padding", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "return dxp[:, :, p:p + H, p:p + W], dw, db", "return dxp, dw, db")}, {"test_conv2d_backward"}),
    _e("conv backward: kernel flipped for dx", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "+= dout[n, k, i, j] * w[k]", "+= dout[n, k, i, j] * w[k, :, ::-1, ::-1]")}, {"test_conv2d_backward"}),
    _e("conv backward: db over the wrong axes", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "return dxp[:, :, p:p + H, p:p + W], dw, db", "return dxp[:, :, p:p + H, p:p + W], dw, dout.sum(axis=(2, 3))")},
       {"test_conv2d_backward"}),
    _e("conv backward: dw averaged over the batch", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "return dxp[:, :, p:p + H, p:p + W], dw, db", "return dxp[:, :, p:p + H, p:p + W], dw / N, db")},
       {"test_conv2d_backward"}),
    _e("conv backward: stride ignored", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "r, q = i * stride, j * stride", "r, q = i, j")}, {"test_conv2d_backward"}),
    _e("network trained without moved digits", "06_backprop", {"train_network": _train('''
rng = np.random.default_rng(0)
model = make_model(rng)
cnnlib.fit(model, x_train, y_train, epochs=12, optimizer=Adam(model.parameters(), lr=3e-3), rng=rng, progress=False)


def predict(x):
    return cnnlib.predict(model, x)
''')}, {"test_predict"}),
    # found by a student trial (session 22): the visible test did not look at x after the call
    _e("predict scales its input in place (x -= ...)", "06_backprop",
       {"train_network": _reference_predict("    x -= 0.0 * x + 0.01\n    return cnnlib.predict(model, x)")},
       {"test_predict"}, visible=True),
    _e("network returns scores instead of labels", "06_backprop",
       {"train_network": _reference_predict("    return model.forward(x.astype(np.float32))")}, {"test_predict"}),
]

C06 = [
    _e("conv backward: plain loops over n, k, i, j", "06_backprop", {"conv2d_backward": REF_BACKWARD}),
    _e("conv backward: the three gradients as a namedtuple", "06_backprop", {"conv2d_backward":
       "from collections import namedtuple\nGrads = namedtuple('Grads', 'dx dw db')\n"
       + REF_BACKWARD.replace("    return dxp[:, :, p:p + H, p:p + W], dw, db",
                              "    return Grads(dxp[:, :, p:p + H, p:p + W], dw, db)")}),
    _e("conv backward: einsum per output position", "06_backprop", {"conv2d_backward": '''
def conv2d_backward(dout, x, w, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    Ho, Wo = dout.shape[2:]
    p, s = padding, stride
    xp = np.zeros((N, C, H + 2 * p, W + 2 * p))
    xp[:, :, p:p + H, p:p + W] = x
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for i in range(Ho):
        for j in range(Wo):
            dw += np.einsum("nk,ncml->kcml", dout[:, :, i, j], xp[:, :, i * s:i * s + Fh, j * s:j * s + Fw])
            dxp[:, :, i * s:i * s + Fh, j * s:j * s + Fw] += np.einsum("nk,kcml->ncml", dout[:, :, i, j], w)
    return dxp[:, :, p:p + H, p:p + W], dw, np.einsum("nkij->k", dout)
'''}),
    _e("conv backward: loop over kernel offsets (col2im style)", "06_backprop", {"conv2d_backward": '''
def conv2d_backward(dout, x, w, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    Ho, Wo = dout.shape[2:]
    s, p = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    for m in range(Fh):
        for l in range(Fw):
            sl = (slice(None), slice(None), slice(m, m + s * (Ho - 1) + 1, s), slice(l, l + s * (Wo - 1) + 1, s))
            dw[:, :, m, l] = np.tensordot(dout, xp[sl], axes=([0, 2, 3], [0, 2, 3]))
            dxp[sl] += np.tensordot(dout, w[:, :, m, l], axes=([1], [0])).transpose(0, 3, 1, 2)
    return dxp[:, :, p:p + H, p:p + W], dw, dout.sum(axis=(0, 2, 3))
'''}),
    _e("network trained with a hand-written loop and SGD", "06_backprop", {"train_network": _train('''
from cnnlib import SGD, cross_entropy, cross_entropy_backward

rng = np.random.default_rng(1)
model = make_model(rng)
opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(12):
    xs = np.concatenate([x_train, move_and_noise(x_train, rng, noise=0.02)])
    ys = np.concatenate([y_train, y_train])
    order = rng.permutation(len(xs))
    for start in range(0, len(xs), 32):
        idx = order[start:start + 32]
        opt.zero_grad()
        logits = model.forward(xs[idx])
        model.backward(cross_entropy_backward(logits, ys[idx]))
        opt.step()
    print("epoch", epoch, "loss", round(float(cross_entropy(model.forward(xs[:256]), ys[:256])), 3))


def predict(x):
    return np.argmax(model.forward(np.asarray(x, dtype=np.float32)), axis=1)
''')}),
]


# =========================================================================== realistic first attempts
# Mistakes students make on a first try (issue 13): assumptions that hold in the worked examples
# (one image, one channel, square kernels, padding that is not 0, lists) and fail elsewhere.
FIRST_ATTEMPTS = [
    # ---------------------------------------------------------------- 01_mlp
    _e("dense: bias as a column (b[:, None])", "01_mlp", {"dense_forward": '''
def dense_forward(x, W, b):
    return x @ W + b[:, None]
'''}, {"test_dense_forward"}),
    _e("dense: one example at a time, output sized by D", "01_mlp", {"dense_forward": '''
def dense_forward(x, W, b):
    out = np.zeros((x.shape[0], x.shape[1]))
    for n in range(x.shape[0]):
        out[n, :W.shape[1]] = x[n] @ W + b
    return out
'''}, {"test_dense_forward"}),
    _e("mlp: list-only (sizes + [0] padding trick)", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    total = 0
    for n_in, n_out in zip(layer_sizes, layer_sizes[1:] + [0]):
        if n_out:
            total += n_in * n_out + n_out
    return total
'''}, {"test_mlp_param_count"}),
    _e("mlp: counts the input layer's biases", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    total = sum(layer_sizes)
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        total += n_in * n_out
    return total
'''}, {"test_mlp_param_count", "test_param_counts"}),
    # ---------------------------------------------------------------- 02_convolution
    _e("single: output sized by the kernel's first side (Fh used for Fw)", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    H, W = x.shape
    Fh, Fw = w.shape
    out = np.zeros((H - Fh + 1, W - Fh + 1))
    for i in range(H - Fh + 1):
        for j in range(W - Fh + 1):
            out[i, j] = np.sum(x[i:i + Fh, j:j + Fw] * w)
    return out
'''}, {"test_conv2d_single"}),
    _e("single: rows of the output from W (square images assumed)", "02_convolution", {"conv2d_single": '''
def conv2d_single(x, w):
    n = x.shape[0]
    Fh, Fw = w.shape
    out = np.zeros((n - Fh + 1, n - Fw + 1))
    for i in range(n - Fh + 1):
        for j in range(n - Fw + 1):
            out[i, j] = np.sum(x[i:i + Fh, j:j + Fw] * w)
    return out
'''}, {"test_conv2d_single"}),
    _e("multi: square kernels (K, _, F, _ = w.shape)", "02_convolution", {"conv2d_multi": '''
def conv2d_multi(x, w, b):
    C, H, W = x.shape
    K, _, F, _ = w.shape
    out = np.zeros((K, H - F + 1, W - F + 1))
    for k in range(K):
        for i in range(H - F + 1):
            for j in range(W - F + 1):
                out[k, i, j] = np.sum(x[:, i:i + F, j:j + F] * w[k]) + b[k]
    return out
'''}, {"test_conv2d_multi"}),
    _e("multi: bias added once per channel", "02_convolution", {"conv2d_multi": '''
def conv2d_multi(x, w, b):
    K, C = w.shape[:2]
    return np.array([sum(conv2d_single(x[c], w[k, c]) + b[k] for c in range(C)) for k in range(K)])
'''}, {"test_conv2d_multi"}),
    _e("multi: filter and channel indices swapped (w[c, k])", "02_convolution", {"conv2d_multi": '''
def conv2d_multi(x, w, b):
    K, C = w.shape[:2]
    out = []
    for k in range(K):
        total = 0
        for c in range(C):
            total = total + conv2d_single(x[c], w[c, k])
        out.append(total + b[k])
    return np.array(out)
'''}, {"test_conv2d_multi"}),
    # ---------------------------------------------------------------- 03_hyperparameters
    _e("pad: x[P:-P] slice (empty when P = 0)", "03_hyperparameters", {"zero_pad": '''
def zero_pad(x, padding):
    N, C, H, W = x.shape
    P = padding
    out = np.zeros((N, C, H + 2 * P, W + 2 * P), dtype=x.dtype)
    out[:, :, P:-P, P:-P] = x
    return out
'''}, {"test_zero_pad", "test_conv2d"}),
    _e("pad: float32 upcast to float64 (np.zeros without dtype)", "03_hyperparameters", {"zero_pad": '''
def zero_pad(x, padding):
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    out[:, :, padding:padding + H, padding:padding + W] = x
    return out
'''}, {"test_zero_pad"}),
    _e("output size: true division (/ instead of //)", "03_hyperparameters", {"conv_output_size": '''
def conv_output_size(n, f, padding, stride):
    return (n + 2 * padding - f) / stride + 1
'''}, {"test_conv_output_size", "test_conv2d"}),
    _e("conv2d: square kernels (K, _, F, _ = w.shape)", "03_hyperparameters", {"conv2d": '''
def conv2d(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, F, _ = w.shape
    xp = zero_pad(x, padding)
    Ho = conv_output_size(H, F, padding, stride)
    Wo = conv_output_size(W, F, padding, stride)
    out = np.zeros((N, K, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * stride:i * stride + F, j * stride:j * stride + F]
            out[:, :, i, j] = np.tensordot(win, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out
'''}, {"test_conv2d"}),
    _e("conv2d: pads by hand with x[P:-P] (crashes at padding 0)", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace(
        "    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n",
        "    xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding))\n"
        "    xp[:, :, padding:-padding, padding:-padding] = x\n")}, {"test_conv2d"}),
    _e("conv2d: no defaults for stride and padding", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace(
        "def conv2d(x, w, b, stride=1, padding=0):", "def conv2d(x, w, b, stride, padding):")}, {"test_conv2d"}),
    _e("conv2d: square images (W_out = H_out)", "03_hyperparameters", {"conv2d": REF_CONV2D_LOOPS.replace(
        "Wo = (W + 2 * padding - Fw) // stride + 1", "Wo = Ho")}, {"test_conv2d"}),
    _e("conv2d: the window summed over the whole batch (np.sum(window * w[k]))", "03_hyperparameters", {"conv2d": '''
def conv2d(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    xp = zero_pad(x, padding)
    Ho, Wo = conv_output_size(H, Fh, padding, stride), conv_output_size(W, Fw, padding, stride)
    out = np.zeros((N, K, Ho, Wo))
    for k in range(K):
        for i in range(Ho):
            for j in range(Wo):
                window = xp[:, :, i * stride:i * stride + Fh, j * stride:j * stride + Fw]
                out[:, k, i, j] = np.sum(window * w[k]) + b[k]
    return out
'''}, {"test_conv2d"}),
    _e("conv2d: only the first image of the batch (x[0])", "03_hyperparameters", {"conv2d": '''
def conv2d(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    K, _, Fh, Fw = w.shape
    xp = zero_pad(x, padding)[0]
    Ho, Wo = conv_output_size(H, Fh, padding, stride), conv_output_size(W, Fw, padding, stride)
    out = np.zeros((N, K, Ho, Wo))
    for k in range(K):
        for i in range(Ho):
            for j in range(Wo):
                out[:, k, i, j] = np.sum(xp[:, i * stride:i * stride + Fh, j * stride:j * stride + Fw] * w[k]) + b[k]
    return out
'''}, {"test_conv2d"}),
    # ---------------------------------------------------------------- 04_features
    _e("receptive field: list-only (strides + [1])", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    jumps = [1] + strides
    r = 1
    for l, f in enumerate(kernel_sizes):
        r += (f - 1) * int(np.prod(jumps[:l + 1]))
    return r
'''}, {"test_receptive_field"}),
    _e("receptive field: every layer grows by the product of ALL strides", "04_features", {"receptive_field": '''
def receptive_field(kernel_sizes, strides):
    return 1 + sum(f - 1 for f in kernel_sizes) * int(np.prod(strides))
'''}, {"test_receptive_field"}),
    _e("receptive field: taken from cnnlib (blocked at marking)", "04_features", {"receptive_field": '''
from cnnlib import receptive_field as _cnnlib_receptive_field


def receptive_field(kernel_sizes, strides):
    return _cnnlib_receptive_field(kernel_sizes, strides)
'''}, {"test_receptive_field"}),
    _e("max pool: stride=None not handled", "05_pooling", {"max_pool2d": '''
def max_pool2d(x, size=2, stride=None):
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // stride + 1, (W - size) // stride + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size].max(axis=(2, 3))
    return out
'''}, {"test_max_pool2d"}),
    _e("max pool: default stride 2 instead of stride = size", "05_pooling", {"max_pool2d": REF_MAX_LOOPS.replace(
        "def max_pool2d(x, size=2, stride=None):\n    if stride is None:\n        stride = size\n",
        "def max_pool2d(x, size=2, stride=2):\n")}, {"test_max_pool2d"}),
    # found by a student trial (session 22): the visible test called the backward with a default
    # stride only for size 2, where the mistake does not show
    _e("max backward: default stride 2 instead of stride = size", "05_pooling", {"max_pool2d_backward":
       REF_BACKWARD_LOOPS.replace("    if stride is None:\n        stride = size\n",
                                  "    if stride is None:\n        stride = 2\n")},
       {"test_max_pool2d_backward"}, visible=True),
    _e("max pool: square images (W_out = H_out)", "05_pooling", {"max_pool2d": REF_MAX_LOOPS.replace(
        "Wo = (W - size) // stride + 1", "Wo = Ho")}, {"test_max_pool2d"}),
    _e("max pool: maximum over the whole batch and channels", "05_pooling", {"max_pool2d": '''
def max_pool2d(x, size=2, stride=None):
    s = size if stride is None else stride
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // s + 1, (W - size) // s + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + size, j * s:j * s + size].max()
    return out
'''}, {"test_max_pool2d"}),
    _e("avg pool: divides by size (not size * size)", "05_pooling", {"avg_pool2d": '''
def avg_pool2d(x, size=2, stride=None):
    s = size if stride is None else stride
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // s + 1, (W - size) // s + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + size, j * s:j * s + size].sum(axis=(2, 3)) / size
    return out
'''}, {"test_avg_pool2d"}),
    _e("avg pool: stride=None not handled", "05_pooling", {"avg_pool2d": '''
def avg_pool2d(x, size=2, stride=None):
    N, C, H, W = x.shape
    Ho, Wo = (H - size) // stride + 1, (W - size) // stride + 1
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size].mean(axis=(2, 3))
    return out
'''}, {"test_avg_pool2d"}),
    _e("max backward: vectorised with (N, C) index arrays (dx[:, :, i*S+m, j*S+l])", "05_pooling", {"max_pool2d_backward": '''
def max_pool2d_backward(dout, x, size=2, stride=None):
    s = size if stride is None else stride
    N, C, Ho, Wo = dout.shape
    dx = np.zeros(x.shape)
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * s:i * s + size, j * s:j * s + size].reshape(N, C, -1)
            m, l = np.divmod(win.argmax(axis=2), size)          # (N, C) each
            dx[:, :, i * s + m, j * s + l] += dout[:, :, i, j]
    return dx
'''}, {"test_max_pool2d_backward"}),
    _e("max backward: stride=None not handled", "05_pooling", {"max_pool2d_backward": REF_BACKWARD_LOOPS.replace(
        "    if stride is None:\n        stride = size\n", "")}, {"test_max_pool2d_backward"}),
    _e("conv backward: square kernels (K, _, F, _ = w.shape)", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "K, _, Fh, Fw = w.shape", "K, _, Fh, _ = w.shape\n    Fw = Fh")}, {"test_conv2d_backward"}),
    _e("conv backward: dx cropped with [P:-P] (empty at padding 0)", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "return dxp[:, :, p:p + H, p:p + W], dw, db", "return dxp[:, :, p:-p, p:-p], dw, db")}, {"test_conv2d_backward"}, visible=True),
    _e("conv backward: dw from the unpadded input", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "dw[k] += dout[n, k, i, j] * xp[n, :, r:r + Fh, q:q + Fw]",
        "dw[k] += dout[n, k, i, j] * x[n, :, r:r + Fh, q:q + Fw]")},
       {"test_conv2d_backward"}),
    _e("conv backward: db of the first image only", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "db[k] += dout[n, k, i, j]", "db[k] += dout[n, k, i, j] if n == 0 else 0.0")}, {"test_conv2d_backward"}),
]

FIRST_ATTEMPTS_CORRECT = [
    _e("mlp: tuple or list through numpy", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    s = np.asarray(layer_sizes)
    return int((s[:-1] * s[1:] + s[1:]).sum())
'''}),
    _e("conv backward: returns a list [dx, dw, db]", "06_backprop", {"conv2d_backward": REF_BACKWARD.replace(
        "return dxp[:, :, p:p + H, p:p + W], dw, db", "return [dxp[:, :, p:p + H, p:p + W], dw, db]")}),
]

#: the first attempts whose verdict depends on how the grader runs code (the import block, a
#: crash, a dtype sent back from the sandbox): also graded end to end through nbgrader and the
#: sandbox; the others are judged by the same checks in process (tests/test_checks.py).
END_TO_END_FIRST_ATTEMPTS = frozenset({
    "receptive field: taken from cnnlib (blocked at marking)",
    "pad: float32 upcast to float64 (np.zeros without dtype)",
    "pad: x[P:-P] slice (empty when P = 0)",
    "mlp: list-only (sizes + [0] padding trick)",
    "max backward: vectorised with (N, C) index arrays (dx[:, :, i*S+m, j*S+l])",
})

# A student trial (session 26): each passed the visible tests and scored 0 in its part; the task's
# Marking names the case, and now a visible test tries it once too.
_R02, _R03 = reference_sources("02_convolution"), reference_sources("03_hyperparameters")
_R01B, _R01C = reference_sources("01b_pipeline_shapes"), reference_sources("01c_weight_sharing")
W26 = [
    _e("multi: b reshaped in place (b.shape = (-1, 1, 1); out + b)", "02_convolution", {"conv2d_multi": _R02[
        "conv2d_multi"].replace(" * w[k]) + b[k]", " * w[k])").replace(
        "    return out", "    b.shape = (-1, 1, 1)\n    return out + b")}, {"test_conv2d_multi"}, visible=True),
    _e("conv2d: b reshaped in place (b.shape = (1, -1, 1, 1); out + b)", "03_hyperparameters", {"conv2d": _R03[
        "conv2d"].replace("w, axes=([1, 2, 3], [1, 2, 3])) + b", "w, axes=([1, 2, 3], [1, 2, 3]))").replace(
        "    return out", "    b.shape = (1, -1, 1, 1)\n    return out + b")}, {"test_conv2d"}, visible=True),
    _e("pad: a view x[:] when the padding is 0 (not a new array)", "03_hyperparameters", {"zero_pad": '''
def zero_pad(x, padding):
    if padding == 0:
        return x[:]
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
'''}, {"test_zero_pad"}, visible=True),
    _e("dense: x.squeeze() @ W + b (drops the batch axis when N = 1)", "01_mlp", {"dense_forward": '''
def dense_forward(x, W, b):
    return x.squeeze() @ W + b
'''}, {"test_dense_forward"}, visible=True),
    _e("mlp: the count as an array of 1 value (np.array([total]))", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    s = np.array(layer_sizes)
    return np.array([(s[:-1] * s[1:] + s[1:]).sum()])
'''}, {"test_mlp_param_count", "test_param_counts"}, visible=True),
    _e("shape: ReLU unpacks (N, C, H, W) (fails on vectors (N, D))", "01b_pipeline_shapes", {"layer_output_shape": _R01B[
        "layer_output_shape"].replace('    if kind == "relu":\n        return tuple(in_shape)',
                                      '    if kind == "relu":\n        N, C, H, W = in_shape\n        return (N, C, H, W)')},
       {"test_layer_output_shape"}, visible=True),
    _e("summary: each layer of the list made a tuple (layers[i] = tuple(layer))", "01b_pipeline_shapes", {
        "pipeline_summary": _R01B["pipeline_summary"].replace(
            "    for layer in layers:\n", "    for i, layer in enumerate(layers):\n"
            "        if isinstance(layers, list):\n            layers[i] = tuple(layer)\n")},
       {"test_pipeline_summary"}, visible=True),
    _e("local params: signature (..., padding=0, stride=1)", "01c_weight_sharing", {"local_and_conv_params": _R01C[
        "local_and_conv_params"].replace("stride=1, padding=0):", "padding=0, stride=1):")},
       {"test_local_and_conv_params"}, visible=True),
    _e("shift: `if dy >= H or dx >= W` (no abs: a long move left or up)", "01c_weight_sharing", {"shift": '''
def shift(x, dy, dx):
    out = np.zeros_like(x)
    N, C, H, W = x.shape
    if dy >= H or dx >= W:
        return out
    ys, yd = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
    xs, xd = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
    out[:, :, yd, xd] = x[:, :, ys, xs]
    return out
'''}, {"test_shift"}, visible=True),
    _e("shift: pads by max(H, W) and crops (a move longer than both sides)", "01c_weight_sharing", {"shift": '''
def shift(x, dy, dx):
    N, C, H, W = x.shape
    p = max(H, W)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    return xp[:, :, p - dy:p - dy + H, p - dx:p - dx + W].copy()
'''}, {"test_shift"}, visible=True),
    _e("equivariance: the largest difference of image 0 only ([...][0])", "01c_weight_sharing", {"equivariance_error": '''
def equivariance_error(op, x, dy, dx):
    return float(np.max(np.abs(op(shift(x, dy, dx)) - shift(op(x), dy, dx))[0]))
'''}, {"test_equivariance_error"}, visible=True),
    # classic_cause gave the "-0 slice" hint for any broadcast error when padding was 0 (session 26)
    _e("conv2d: out + b (the bias not put on the filter axis)", "03_hyperparameters", {"conv2d": _R03[
        "conv2d"].replace("w, axes=([1, 2, 3], [1, 2, 3])) + b", "w, axes=([1, 2, 3], [1, 2, 3]))").replace(
        "    return out", "    return out + b")}, {"test_conv2d"}, visible=True),
    _e("multi: x read as (H, W, C)", "02_convolution", {"conv2d_multi": _R02["conv2d_multi"].replace(
        "    C, H, W = x.shape", "    H, W, C = x.shape").replace("x[:, i:i + Fh, j:j + Fw]", "x[i:i + Fh, j:j + Fw].transpose(2, 0, 1)")},
       {"test_conv2d_multi"}, visible=True),
    # raw errors in the visible tests (session 26): the answer's type is named first
    _e("equivariance: one largest difference per image (an array)", "01c_weight_sharing", {"equivariance_error": '''
def equivariance_error(op, x, dy, dx):
    return np.abs(op(shift(x, dy, dx)) - shift(op(x), dy, dx)).max(axis=(1, 2, 3))
'''}, {"test_equivariance_error"}, visible=True),
    _e("equivariance: the difference as a str", "01c_weight_sharing", {"equivariance_error": '''
def equivariance_error(op, x, dy, dx):
    return f"{np.max(np.abs(op(shift(x, dy, dx)) - shift(op(x), dy, dx))):.6f}"
'''}, {"test_equivariance_error"}, visible=True),
    _e("pad: a nested list (.tolist())", "03_hyperparameters", {"zero_pad": '''
def zero_pad(x, padding):
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))).tolist()
'''}, {"test_zero_pad", "test_conv2d"}, visible=True),
]

C26 = [
    _e("mlp: the count as a 0-d array (np.array(total))", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    s = np.array(layer_sizes)
    return np.array((s[:-1] * s[1:] + s[1:]).sum())
'''}),
    _e("mlp: the count as an np.int64", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    s = np.array(layer_sizes, dtype=np.int64)
    return (s[:-1] * s[1:] + s[1:]).sum()
'''}),
    _e("mlp: the count as a whole float", "01_mlp", {"mlp_param_count": '''
def mlp_param_count(layer_sizes):
    s = list(layer_sizes)
    return float(sum(a * c + c for a, c in zip(s[:-1], s[1:])))
'''}),
    _e("param counts as a NumPy array", "01_mlp", {"param_counts": '''
param_counts = np.array([mlp_param_count([224 * 224 * 3, 1000]), 64 * (3 * 3 * 3 + 1)])
'''}),
    _e("shift: pads by max(|dy|, |dx|) and crops", "01c_weight_sharing", {"shift": '''
def shift(x, dy, dx):
    N, C, H, W = x.shape
    p = max(abs(dy), abs(dx))
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    return xp[:, :, p - dy:p - dy + H, p - dx:p - dx + W]
'''}),
]

WRONG = W01 + W02 + W03 + W04 + W05 + W06 + FIRST_ATTEMPTS + W26
CORRECT = C01 + C02 + C03 + C04 + C05 + C06 + FIRST_ATTEMPTS_CORRECT + C26
#: what tests/test_grading_e2e.py grades through nbgrader (every entry would take ~15 min there)
END_TO_END = [e for e in WRONG + CORRECT
              if (e not in FIRST_ATTEMPTS or e.name in END_TO_END_FIRST_ATTEMPTS) and e not in W26 + C26]
