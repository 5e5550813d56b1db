"""TODO(owner): placeholder; replaced by the real module."""

def load_digits(test_size=0.25, seed=0):
    raise NotImplementedError

def make_shapes(n, size=16, noise=0.1, rng=None):
    raise NotImplementedError

def load_photo():
    raise NotImplementedError
