"""TODO(owner): placeholder; replaced by the real module."""

class SGD:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError

class Adam:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError
