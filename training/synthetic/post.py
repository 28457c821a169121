"""Camera-like finishing of synthetic images, per sample: Gaussian blur, colour jitter
and sensor noise, on (B, H, W, 3) images (channels last, as the renderer composites)."""

from __future__ import annotations

import math

import torch

from training.synthetic.style import StyleConfig

_NOISE: dict[tuple, torch.Tensor] = {}


def _noise_bank(shape: tuple[int, int], device: torch.device, n: int = 32) -> torch.Tensor:
    """(n, H, W, 3) fixed uniform noise in [-0.5, 0.5] (drawing fresh noise per image
    costs more than the rest of the post-processing)."""
    key = (str(device), *shape)
    if key not in _NOISE:
        g = torch.Generator().manual_seed(4321)
        _NOISE[key] = (torch.rand(n, *shape, 3, generator=g) - 0.5).to(device)
    return _NOISE[key]


def _blur(image: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap Gaussian blur of (B, H, W, 3) with one sigma (B,) per image, edges
    repeated: shifted in-place multiply-adds, cheaper here than a grouped convolution."""
    x = torch.arange(-2, 3, device=image.device, dtype=image.dtype)
    k = torch.exp(-x[None] ** 2 / (2 * sigma[:, None] ** 2))
    k = (k / k.sum(-1, keepdim=True))[:, :, None, None, None]  # (B, 5, 1, 1, 1)
    for dim in (1, 2):
        n = image.shape[dim]
        out = image * k[:, 2]
        for shift in (1, 2):
            for tap, sign in ((2 - shift, 1), (2 + shift, -1)):  # neighbour before / after
                w = k[:, tap]
                if sign > 0:  # out[i] += w * x[i - shift], the first rows reuse row 0
                    out.narrow(dim, shift, n - shift).addcmul_(image.narrow(dim, 0, n - shift), w)
                    edge = image.narrow(dim, 0, 1)
                    out.narrow(dim, 0, shift).addcmul_(edge, w)
                else:  # out[i] += w * x[i + shift], the last rows reuse row n - 1
                    out.narrow(dim, 0, n - shift).addcmul_(image.narrow(dim, shift, n - shift), w)
                    edge = image.narrow(dim, n - 1, 1)
                    out.narrow(dim, n - shift, shift).addcmul_(edge, w)
        image = out
    return image


def _uniform(g: torch.Generator, bsz: int, shared: bool, lo: float, hi: float, *shape):
    n = 1 if shared else bsz
    return (lo + (hi - lo) * torch.rand(n, *shape, generator=g)).expand(bsz, *shape)


def colour_jitter(style: StyleConfig, g: torch.Generator, bsz: int,
                  shared: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Random per-sample colour transforms ``c' = M c + o``: channel gains, contrast
    about mid-grey and saturation, scaled by ``style.jitter``. Returns M (B, 3, 3) and
    o (B, 3); ``shared`` draws one for all B (a video). The renderer applies it to the
    low-resolution background and to the body colours before compositing (it is
    linear, so it commutes with compositing and blur), which costs far less than
    transforming every final pixel."""
    s = style.jitter
    gain = _uniform(g, bsz, shared, 1 - 0.1 * s, 1 + 0.1 * s, 3)
    contrast = _uniform(g, bsz, shared, 1 - 0.25 * s, 1 + 0.2 * s)
    sat = _uniform(g, bsz, shared, 1 - 0.4 * s, 1 + 0.3 * s)
    grey = torch.full((3, 3), 1.0 / 3.0)
    mix = sat[:, None, None] * torch.eye(3) + (1 - sat[:, None, None]) * grey
    mat = gain[..., None] * contrast[:, None, None] * mix
    return mat, gain * ((1 - contrast) * 0.5)[:, None]


def jitter_pixels(mat: torch.Tensor, off: torch.Tensor, colours: torch.Tensor,
                  sample: torch.Tensor) -> torch.Tensor:
    """``M c + o`` for N pixel colours (N, 3) of the images ``sample`` (N,), with M (B, 3,
    3) and o (B, 3) from :func:`colour_jitter`. The per-image rows are gathered once as
    contiguous rows (faster on the CPU than an (N, 12) gather)."""
    bsz = mat.shape[0]
    rows = torch.cat([mat.reshape(bsz, 9), off], 1).T.contiguous().index_select(1, sample)
    return (rows[0:9].view(3, 3, -1) * colours.T[None]).sum(1).add_(rows[9:]).T


def channels_first(image: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) -> a new contiguous (B, 3, H, W) (a copy into a fresh tensor: about
    three times faster on the CPU than ``permute(...).contiguous()``)."""
    bsz, h, w, c = image.shape
    out = torch.empty(bsz, c, h, w, dtype=image.dtype, device=image.device)
    return out.copy_(image.permute(0, 3, 1, 2))


def postprocess(image: torch.Tensor, style: StyleConfig, g: torch.Generator,
                shared: bool = False) -> torch.Tensor:
    """Per-sample Gaussian blur (where sigma >= 0.5 px) and sensor noise:
    (B, H, W, 3) -> same. ``shared``: one camera for all B images (the frames of a
    video); the noise pattern still changes from image to image."""
    bsz, h, w, _ = image.shape
    dev = image.device
    sigma = _uniform(g, bsz, shared, *style.blur).to(dev)
    std = (_uniform(g, bsz, shared, *style.noise) * math.sqrt(12.0)).to(dev)  # uniform noise
    pick = torch.randint(0, 32, (bsz,), generator=g).to(dev)
    blurred = torch.nonzero(sigma >= 0.5).flatten()
    image = image.clone()
    if len(blurred):
        image.index_copy_(0, blurred, _blur(image.index_select(0, blurred), sigma[blurred]))
    noise = _noise_bank((h, w), dev).index_select(0, pick)
    return image.addcmul_(noise, std[:, None, None, None]).clamp_(0, 1)
