"""Training utilities shaped like ``torch.nn.utils``: gradient clipping and flattening
parameters into one vector.

>>> import tapegrad as tg
>>> w = tg.ones(4, requires_grad=True)
>>> (3 * w).sum().backward()
>>> float(tg.nn.utils.clip_grad_norm_([w], max_norm=1.0))  # the norm before clipping
6.0
"""

from .clip_grad import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from .convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_", "parameters_to_vector", "vector_to_parameters"]
