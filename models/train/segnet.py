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
    # DeepLab-style output stride 8: S2 and S3 stay at stride 8 with dilated convs (more context at stride 8),
    # so the deep stages hold most of the cost (what Clockwork skips) and all three score maps share one grid.
    "seg-large": dict(stem=(32, 64), s1=(128, 4), s2=(192, 4), s3=(256, 4), strides=(1, 1), dilations=(2, 4)),
}


def up2(x, ref):
    """Bilinear x2 upsampling to exactly ref's spatial size (align_corners=False). Shape-safe for odd sizes."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def arch_strides(arch):
    """(S2, S3) stride relative to the previous stage: (2, 2) for seg/seg-lite, (1, 1) for seg-large."""
    return tuple(ARCHS[arch].get("strides", (2, 2)))


def fuse_scores(s1, s2, s3, strides=(2, 2)):
    """FCN-8s skip fusion s1 + up2(s2 + up2(s3)); a stage that keeps its input's stride (1 in `strides`, known from
    the arch, not from runtime shapes) is already on the finer grid, so its resize is left out (no Resize node)."""
    st2, st3 = strides
    x = s2 + (s3 if st3 == 1 else up2(s3, s2))
    return s1 + (x if st2 == 1 else up2(x, s1))


def upsample_features(f1, f2, f3, strides=(2, 2)):
    """F2, F3 on F1's grid with the same resize sequence as fuse_scores (F3 -> F2 size -> F1 size)."""
    st2, st3 = strides
    g2 = f2 if st2 == 1 else up2(f2, f1)
    g3 = f3 if st3 == 1 else up2(f3, f2)
    return f1, g2, (g3 if st2 == 1 else up2(g3, f1))


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


def make_stage(cin, c, n, dilation=1, stride=2):
    # stride-2 3x3 conv with padding 1: out = ceil(in / 2) for any input size
    layers = [CBR(cin, c, stride, 1 if stride == 2 else dilation)]
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
        (st2, st3), (d2, d3) = a.get("strides", (2, 2)), a.get("dilations", (1, 2))
        self.strides = (st2, st3)  # plain attribute: not in the state dict
        self.stage2 = make_stage(c1, cc2, n2, d2, st2)
        self.stage3 = nn.Sequential(make_stage(cc2, c3, n3, d3, st3), PoolContext(c3))
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

    def fuse(self, s1, s2, s3):
        return fuse_scores(s1, s2, s3, self.strides)

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
    """Clockwork fusion; `strides` from the arch (segnet.arch_strides or net.strides), default seg's (2, 2)."""

    def __init__(self, strides=(2, 2)):
        super().__init__()
        self.strides = tuple(strides)

    def forward(self, score1, score2, score3):
        return fuse_scores(score1, score2, score3, self.strides)


class Features(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.pre, self.net = Preprocess(), net

    def forward(self, image):
        f1, f2, f3 = self.net.feats(self.pre(image))
        # identical up2 sequence to fuse(): F3 -> F2 size -> F1 size (none for a stride-keeping arch)
        return torch.cat(upsample_features(f1, f2, f3, self.net.strides), dim=1)


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
