"""Dirichlet sampling that works everywhere the rest of the package does.

``torch.distributions.Dirichlet``/``Beta`` call ``torch._sample_dirichlet``, which has no meta/fake
kernel and so cannot be traced by ``torch.compile``; normalised Gamma draws (``torch._standard_gamma``
underneath ``torch.distributions.Gamma``) give the same distribution and trace fine.
"""

import torch
from torch import Tensor


def dirichlet(concentration: Tensor) -> Tensor:
    """One Dirichlet sample per row of ``concentration`` [..., K] (same shape, rows sum to one)."""
    gamma = torch.distributions.Gamma(concentration, torch.ones_like(concentration), validate_args=False)
    draws = gamma.sample()
    return draws / draws.sum(dim=-1, keepdim=True)
