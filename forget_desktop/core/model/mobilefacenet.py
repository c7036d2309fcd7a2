"""MobileFaceNet (Chen et al. 2018) laid out to match the state_dict in models/mobilefacenet."""

from __future__ import annotations

from torch import nn

# (expansion, output channels, repeats, stride of the first repeat)
BOTTLENECK_SETTINGS = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


def conv_bn_relu6(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class DepthwiseSeparable(nn.Module):
    """Depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN → ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.bn1(self.depthwise(x)))
        return self.relu(self.bn2(self.pointwise(x)))


class Bottleneck(nn.Module):
    """Inverted residual: expand 1×1, depthwise 3×3, project 1×1 (+ shortcut when shapes match)."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.shortcut = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            conv_bn_relu6(cin, hidden, 1),
            conv_bn_relu6(hidden, hidden, 3, stride, hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x):
        return x + self.conv(x) if self.shortcut else self.conv(x)


class GlobalDepthwise(nn.Module):
    """7×7 depthwise convolution over the whole map (GDConv) → BN."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.depthwise(x))


class MobileFaceNet(nn.Module):
    """112×112 RGB aligned face → 128-d embedding (unnormalised)."""

    embedding_size = 128

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu6(3, 64, 3, 2)
        self.dw_conv = DepthwiseSeparable(64)
        blocks, cin = [], 64
        for expansion, cout, repeats, stride in BOTTLENECK_SETTINGS:
            for index in range(repeats):
                blocks.append(Bottleneck(cin, cout, stride if index == 0 else 1, expansion))
                cin = cout
        self.features = nn.Sequential(*blocks)
        self.conv2 = conv_bn_relu6(128, 512, 1)
        self.gdconv = GlobalDepthwise(512)
        self.conv3 = nn.Conv2d(512, 128, 1)
        self.bn = nn.BatchNorm2d(128)

    def forward(self, x):
        x = self.features(self.dw_conv(self.conv1(x)))
        x = self.conv3(self.gdconv(self.conv2(x)))
        return self.bn(x).flatten(1)
