"""TODO(owner): placeholder; replaced by the real module."""

def numeric_gradient(f, x, dout=None, h=1e-5):
    raise NotImplementedError

def relative_error(a, b):
    raise NotImplementedError
