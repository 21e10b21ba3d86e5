"""A small class-conditional U-Net for 28×28 images: model(x_t, t, labels) → ε̂.

Residual blocks whose second GroupNorm is modulated by the conditioning vector c,
GN(h) · (1 + scale(c)) + shift(c) — AdaGN (Dhariwal & Nichol 2021, section 3; the
shift/scale fusion of the 'Predicting Error and Score Function' tutorial) — where c = MLP(emb(t)) + E[label] and label
`num_classes` is the null label of classifier-free guidance (Ho & Salimans 2022).

Built for two CPU cores: the image is first folded 2×2 into channels (pixel
unshuffle, 28×28×1 → 14×14×4, as DiT's patch-2 embedding), so no convolution runs
at 28×28; most parameters sit at 7×7 where a weight costs 49 multiply-adds per
image rather than 784, with one self-attention layer there; the output is unfolded
back by pixel shuffle. Skips are concatenated once per level above the lowest.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .configs import ConfigRecord, check_positive_ints, check_prediction_field
from .embeddings import SinusoidalTimeEmbedding, with_null_label


@dataclass(frozen=True)
class UNetConfig(ConfigRecord):
    """Everything that rebuilds a `UNet`; saved as the `model` entry of config.json.

    channels: width of each resolution level, from image_size / patch down, halving
    the side per level; blocks: residual blocks per level on the way down (the way
    up has the same count, its first block taking the concatenated skip, except at
    the lowest level, which has none);
    attention: one self-attention layer at the lowest level.
    """

    image_size: int = 28
    image_channels: int = 1
    num_classes: int = 62
    patch: int = 2
    channels: tuple[int, ...] = (32, 96)
    blocks: tuple[int, ...] = (1, 1)
    attention: bool = True
    head_dim: int = 32
    groups: int = 8
    time_dim: int = 64
    cond_dim: int = 128
    prediction: str = "epsilon"

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "blocks", tuple(self.blocks))
        check_positive_ints(self, ("image_size", "image_channels", "num_classes", "patch", "head_dim", "groups", "cond_dim"))
        if not self.channels or not all(
            isinstance(c, int) and c > 0 and c % self.groups == 0 for c in self.channels
        ):
            raise ValueError(
                f"model config channels must be positive multiples of groups={self.groups}, "
                f"got {list(self.channels)}"
            )
        if len(self.blocks) != len(self.channels) or not all(
            isinstance(b, int) and b >= 1 for b in self.blocks
        ):
            raise ValueError(
                f"model config blocks must give one count >= 1 per level ({len(self.channels)}), "
                f"got {list(self.blocks)}"
            )
        side = self.image_size / self.patch / 2 ** (len(self.channels) - 1)
        if side != int(side):
            raise ValueError(
                f"image_size {self.image_size} / patch {self.patch} must halve evenly "
                f"{len(self.channels) - 1} times; use fewer levels or another patch"
            )
        if self.attention and self.channels[-1] % self.head_dim:
            raise ValueError(
                f"lowest-level width {self.channels[-1]} must be a multiple of head_dim {self.head_dim}"
            )
        if not isinstance(self.time_dim, int) or self.time_dim < 4 or self.time_dim % 2:
            raise ValueError(f"model config time_dim must be an even integer >= 4, got {self.time_dim!r}")
        check_prediction_field(self.prediction)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.image_channels, self.image_size, self.image_size)


class ResBlock(nn.Module):
    """h = conv(SiLU(GN(x))); h = conv(SiLU(GN(h)·(1 + scale(c)) + shift(c))); skip(x) + h.

    x: (B, C_in, H, W), c: (B, cond_dim) → (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.modulation = nn.Linear(cond_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, affine=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)
        # Zero-initialised so every block starts as the identity (ADM), which keeps early training stable.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        scale, shift = self.modulation(c)[:, :, None, None].chunk(2, dim=1)
        h = torch.addcmul(shift, self.norm2(h), 1.0 + scale)
        return self.skip(x) + self.conv2(nn.functional.silu(h))


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H·W positions, softmax(QKᵀ/√d)V (Vaswani et al. 2017); residual."""

    def __init__(self, channels: int, head_dim: int, groups: int):
        super().__init__()
        self.heads = channels // head_dim
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = (
            self.qkv(self.norm(x))
            .reshape(b, 3, self.heads, c // self.heads, h * w)
            .transpose(-1, -2)
            .unbind(1)
        )
        attended = nn.functional.scaled_dot_product_attention(q, k, v)
        return x + self.out(attended.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """x_t: (B, C, H, W), t: (B,) long, labels: (B,) long with -1 = unconditional, or None → (B, C, H, W)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        self.null_label = config.num_classes
        widths, groups, cond = config.channels, config.groups, config.cond_dim
        self.time_embedding = SinusoidalTimeEmbedding(config.time_dim)
        self.time_mlp = nn.Sequential(nn.Linear(config.time_dim, cond), nn.SiLU(), nn.Linear(cond, cond))
        self.label_embedding = nn.Embedding(config.num_classes + 1, cond)

        folded = config.image_channels * config.patch**2
        self.fold = nn.PixelUnshuffle(config.patch)
        self.stem = nn.Conv2d(folded, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for level, (width, count) in enumerate(zip(widths, config.blocks, strict=True)):
            self.down.append(nn.ModuleList(ResBlock(width, width, cond, groups) for _ in range(count)))
            if level + 1 < len(widths):
                self.downsample.append(nn.Conv2d(width, widths[level + 1], 3, stride=2, padding=1))
        self.attention = SelfAttention(widths[-1], config.head_dim, groups) if config.attention else None
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(widths))):
            width = widths[level]
            # The lowest level has no skip: its input already is the downward path at the same resolution.
            first_in = width if level == len(widths) - 1 else 2 * width
            blocks = [ResBlock(first_in, width, cond, groups)]
            blocks += [ResBlock(width, width, cond, groups) for _ in range(config.blocks[level] - 1)]
            self.up.append(nn.ModuleList(blocks))
            if level > 0:
                # A 2×2 stride-2 transposed conv: each position paints its own 2×2 patch,
                # 1/9 the cost of nearest upsampling followed by a 3×3 conv.
                self.upsample.append(nn.ConvTranspose2d(width, widths[level - 1], 2, stride=2))
        self.head = nn.Sequential(
            nn.GroupNorm(groups, widths[0]), nn.SiLU(), nn.Conv2d(widths[0], folded, 3, padding=1)
        )
        self.unfold = nn.PixelShuffle(config.patch)
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def condition(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """c = MLP(emb(t)) + E[label], (B, cond_dim), with label -1 (or None) mapped to the null label."""
        return self.time_mlp(self.time_embedding(t)) + self.label_embedding(with_null_label(labels, t, self.null_label))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        c = nn.functional.silu(self.condition(t, labels))
        h = self.stem(self.fold(x_t))
        skips = []
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, c)
            if level < len(self.downsample):
                skips.append(h)
                h = self.downsample[level](h)
        if self.attention is not None:
            h = self.attention(h)
        for level, blocks in enumerate(self.up):
            if level > 0:
                h = torch.cat([h, skips.pop()], dim=1)
            for block in blocks:
                h = block(h, c)
            if level < len(self.upsample):
                h = self.upsample[level](h)
        return self.unfold(self.head(h))
