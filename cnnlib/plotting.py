"""TODO(owner): placeholder; replaced by the real module."""

def plot_filters(w, ax=None):
    raise NotImplementedError

def plot_feature_maps(maps, ax=None):
    raise NotImplementedError

def plot_conv_step(x, w, i, j, stride=1, padding=0, axes=None):
    raise NotImplementedError
