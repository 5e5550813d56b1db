"""TODO(owner): placeholder; replaced by the real module."""

def conv_output_size(n, f, padding=0, stride=1):
    raise NotImplementedError

def conv_param_count(k, f, c):
    raise NotImplementedError

def dense_param_count(n_in, n_out):
    raise NotImplementedError

def mlp_param_count(layer_sizes):
    raise NotImplementedError

def receptive_field(kernel_sizes, strides=None):
    raise NotImplementedError
