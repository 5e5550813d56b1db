"""TODO(owner): placeholder; replaced by the real module."""

def relu(x):
    raise NotImplementedError

def relu_backward(dout, x):
    raise NotImplementedError

def softmax(z, axis=-1):
    raise NotImplementedError
