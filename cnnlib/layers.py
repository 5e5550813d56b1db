"""TODO(owner): placeholder; replaced by the real module."""

class Layer:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError

class Conv2D:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError

class ReLU:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError

class MaxPool2D:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError

class AvgPool2D:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError

class Flatten:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError

class Dense:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError

class Sequential:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError
