"""Staged FCN (FCN-8s style skip fusion) used by every Segflow method, plus the export cuts.

All cuts are built from the SAME module instance, so Clockwork stages, DFF/Accel features+head and the
whole network share weights exactly. See models/train/README.md for the export contract.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 11
IGNORE = 11
# Normalisation baked into every exported graph that takes `image` (uint8 NHWC, RGB).
MEAN = (0.40, 0.42, 0.43)
STD = (0.29, 0.30, 0.30)

# (channels, number of extra 3x3 convs) per part. stem = [c_s2, c_s4]; stages = [(c, n)] for S1, S2, S3.
ARCHS = {
    "seg": dict(stem=(24, 48), s1=(80, 2), s2=(128, 3), s3=(192, 2)),
    "seg-lite": dict(stem=(16, 32), s1=(48, 1), s2=(96, 1), s3=(128, 1)),
}


def up2(x, ref):
    """Bilinear x2 upsampling to exactly ref's spatial size (align_corners=False). Shape-safe for odd sizes."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class CBR(nn.Module):
    def __init__(self, cin, cout, stride=1, dilation=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class ResBlock(nn.Module):
    """Two 3x3 convs with identity skip (ResNet basic block)."""

    def __init__(self, c, dilation=1):
        super().__init__()
        self.a = CBR(c, c, 1, dilation)
        self.conv = nn.Conv2d(c, c, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.bn(self.conv(self.a(x))))


def make_stage(cin, c, n, dilation=1):
    # stride-2 3x3 conv with padding 1: out = ceil(in / 2) for any input size
    layers = [CBR(cin, c, 2)]
    for _ in range(n // 2):
        layers.append(ResBlock(c, dilation))
    if n % 2:
        layers.append(CBR(c, c, 1, dilation))
    return nn.Sequential(*layers)


class PoolContext(nn.Module):
    """Global-average-pooled context added back to every position (image-level prior)."""

    def __init__(self, c):
        super().__init__()
        self.fc = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return F.relu(x + self.fc(x.mean(dim=(2, 3), keepdim=True)))


class StagedFCN(nn.Module):
    def __init__(self, arch="seg"):
        super().__init__()
        a = ARCHS[arch]
        c2, c4 = a["stem"]
        (c1, n1), (cc2, n2), (c3, n3) = a["s1"], a["s2"], a["s3"]
        # S1: image -> stride 8
        self.stage1 = nn.Sequential(CBR(3, c2, 2), CBR(c2, c4, 2), make_stage(c4, c1, n1))
        self.stage2 = make_stage(c1, cc2, n2)
        self.stage3 = nn.Sequential(make_stage(cc2, c3, n3, dilation=2), PoolContext(c3))
        self.score1 = nn.Conv2d(c1, NUM_CLASSES, 1)
        self.score2 = nn.Conv2d(cc2, NUM_CLASSES, 1)
        self.score3 = nn.Conv2d(c3, NUM_CLASSES, 1)
        self.dropout = nn.Dropout2d(0.1)
        self.channels = (c1, cc2, c3)

    def feats(self, x):
        f1 = self.stage1(x)
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        return f1, f2, f3

    @staticmethod
    def fuse(s1, s2, s3):
        return s1 + up2(s2 + up2(s3, s2), s1)

    def forward(self, x):
        f1, f2, f3 = self.feats(x)
        d = self.dropout
        return self.fuse(self.score1(d(f1)), self.score2(d(f2)), self.score3(d(f3)))


def fold_bn(model):
    """Fold every Conv+BN pair into a single conv with bias (eval-mode statistics)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = model.eval()
    for m in list(model.modules()):
        if isinstance(m, CBR) or isinstance(m, ResBlock):
            m.conv = fuse_conv_bn_eval(m.conv, m.bn)
            m.bn = nn.Identity()
    return model


class Preprocess(nn.Module):
    """uint8 NHWC RGB -> normalised float32 NCHW (baked into the exported graph)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", (1.0 / (255.0 * torch.tensor(STD))).view(1, 3, 1, 1))
        self.register_buffer("shift", (-torch.tensor(MEAN) / torch.tensor(STD)).view(1, 3, 1, 1))

    def forward(self, image):
        x = image.permute(0, 3, 1, 2).float()
        return x * self.scale + self.shift


# ---- export cuts (all wrap the same StagedFCN instance) ----
class Whole(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.pre, self.net = Preprocess(), net

    def forward(self, image):
        return self.net(self.pre(image))


class S1(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.pre, self.net = Preprocess(), net

    def forward(self, image):
        f1 = self.net.stage1(self.pre(image))
        return f1, self.net.score1(f1)


class S2(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, feat1):
        f2 = self.net.stage2(feat1)
        return f2, self.net.score2(f2)


class S3(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, feat2):
        return self.net.score3(self.net.stage3(feat2))


class Fuse(nn.Module):
    def forward(self, score1, score2, score3):
        return StagedFCN.fuse(score1, score2, score3)


class Features(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.pre, self.net = Preprocess(), net

    def forward(self, image):
        f1, f2, f3 = self.net.feats(self.pre(image))
        # identical up2 sequence to fuse(): F3 -> F2 size -> F1 size
        return torch.cat([f1, up2(f2, f1), up2(up2(f3, f2), f1)], dim=1)


def make_head(net):
    """1x1 conv with weights [W1 | W2 | W3] and bias b1+b2+b3: head(features) == scores."""
    c = sum(net.channels)
    head = nn.Conv2d(c, NUM_CLASSES, 1)
    with torch.no_grad():
        head.weight.copy_(torch.cat([net.score1.weight, net.score2.weight, net.score3.weight], dim=1))
        head.bias.copy_(net.score1.bias + net.score2.bias + net.score3.bias)
    return head


def conv_macs(model, h, w, arch_input=None):
    """Multiply-accumulates of all Conv2d layers for a 1x3xHxW float input (model takes float NCHW)."""
    total = [0]

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += out.numel() * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, h, w) if arch_input is None else arch_input)
    for hd in hs:
        hd.remove()
    return total[0]
