"""FlowNet-lite: the small two-level PWC-style optical-flow network behind `models/camvid/flow.onnx`.

Contract (see models/train/README.md, section "flow"):
  inputs  `reference`, `current`: uint8 NHWC [1,H,W,3] RGB, H and W multiples of 8 (normalised in the graph)
  outputs `flow`     float32 [1,2,H/8,W/8]: x then y, in pixels of the stride-8 grid, BACKWARD:
                     warped(p) = reference(p + flow(p)) reproduces current(p)
          `features` float32 [1,32,ceil(H/16),ceil(W/16)]: the coarse decoder's hidden state (correlation +
                     current-frame features, i.e. motion-aware, the analogue of FlowNet's conv6), stride 16

Architecture: a shared conv pyramid (stride 2/4/8/16), a cost volume at stride 16 (+-4, i.e. +-64 image px)
-> coarse flow; upsample x2, warp the reference's stride-8 features (GridSample), a +-2 cost volume at
stride 8 -> residual flow. Cost volumes are plain shifted products averaged over channels (Pad, Slice, Mul,
ReduceSum, Concat), so the graph is ordinary ONNX (opset 16 for GridSample) and runs in onnxruntime.
No BatchNorm (nothing to fold); LeakyReLU(0.1) as PWC-Net.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.40, 0.42, 0.43)
STD = (0.29, 0.30, 0.30)
STRIDE = 8
FEATURE_STRIDE = 16


def conv(cin, cout, stride=1, act=True):
    layers = [nn.Conv2d(cin, cout, 3, stride, 1)]
    if act:
        layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


def unit(f):
    """Per-pixel L2 normalisation over channels, so the cost volume is a cosine similarity in [-1, 1]."""
    return f * torch.rsqrt((f * f).sum(1, keepdim=True) + 1e-6)


def correlation(a, b, r):
    """Cost volume: out[:, k] = sum_c a(p) * b(p + d_k), d_k = (dx, dy), k = (dy + r) * (2r+1) + (dx + r).

    Inputs are unit-normalised per pixel first (cosine similarity). b is zero outside the map. Plain
    Pad/Slice/Mul/ReduceSum ops (no custom correlation op).
    """
    a, b = unit(a), unit(b)
    h, w = a.shape[-2:]
    bp = F.pad(b, (r, r, r, r))
    out = []
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out.append((a * bp[:, :, dy:dy + h, dx:dx + w]).sum(1, keepdim=True))
    return torch.cat(out, 1)


def warp(x, flow):
    """Backward bilinear warp: out(p) = x(p + flow(p)), flow in pixels of x's grid (x then y), zeros outside.

    Pixel centres at i + 0.5 and align_corners=False, exactly as the engine's warp stage.
    """
    n, _, h, w = x.shape
    xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w) + 0.5
    ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1) + 0.5
    gx = (xs + flow[:, 0]) * (2.0 / w) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / h) - 1.0
    grid = torch.stack([gx, gy], dim=3)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def resize(x, ref):
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class FlowNetLite(nn.Module):
    def __init__(self, c=(8, 16, 32, 32, 40), r16=4, r8=2, hid16=32, hid8=24):
        super().__init__()
        c1, c2, c3, c4, c5 = c
        self.r16, self.r8 = r16, r8
        self.enc2 = conv(3, c1, 2)                                   # stride 2
        self.enc4 = conv(c1, c2, 2)                                  # stride 4
        self.enc8 = nn.Sequential(conv(c2, c3, 2), conv(c3, c3))     # stride 8
        self.enc16 = nn.Sequential(conv(c3, c4, 2), conv(c4, c5))    # stride 16
        n16 = (2 * r16 + 1) ** 2
        n8 = (2 * r8 + 1) ** 2
        self.dec16 = conv(n16 + c5, hid16)
        self.flow16 = conv(hid16, 2, act=False)
        self.dec8 = conv(n8 + c3 + 2, hid8)
        self.flow8 = conv(hid8, 2, act=False)
        self.features_channels = hid16
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255, persistent=False)

    def encode(self, x):
        f4 = self.enc4(self.enc2(x))
        f8 = self.enc8(f4)
        f16 = self.enc16(f8)
        return f8, f16

    def prep(self, img):
        """uint8 (or 0..255 float) NHWC -> normalised float NCHW."""
        x = img.permute(0, 3, 1, 2).float()
        return (x - self.mean) / self.std

    def forward_nchw(self, ref, cur):
        """ref, cur: normalised float NCHW. Returns (flow8, flow16, features16), flows in own-grid pixels."""
        n = ref.shape[0]
        f8, f16 = self.encode(torch.cat([cur, ref], 0))  # one batched pass through the shared pyramid
        c8, r8 = f8[:n], f8[n:]
        c16, r16 = f16[:n], f16[n:]
        h16 = self.dec16(torch.cat([correlation(c16, r16, self.r16), c16], 1))
        flow16 = self.flow16(h16)
        up = resize(flow16, c8) * 2.0
        cv8 = correlation(c8, warp(r8, up), self.r8)
        h8 = self.dec8(torch.cat([cv8, c8, up], 1))
        flow8 = up + self.flow8(h8)
        return flow8, flow16, h16

    def forward(self, reference, current):
        """ONNX entry: uint8 NHWC reference/current -> (flow [N,2,H/8,W/8], features [N,32,H/16,W/16])."""
        flow8, _, feats = self.forward_nchw(self.prep(reference), self.prep(current))
        return flow8, feats


def cost_macs(net, h, w):
    """(conv MACs counted with forward hooks, cost-volume multiplies) for one 1x3xHxW pair."""
    total = [0]

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total[0] += out.numel() * k

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    x = torch.zeros(1, h, w, 3)
    with torch.no_grad():
        net.eval()(x, x)
    for hd in hs:
        hd.remove()
    h8, w8 = -(-h // 8), -(-w // 8)
    h16, w16 = -(-h8 // 2), -(-w8 // 2)
    c3, c5 = net.enc8[0][0].out_channels, net.enc16[1][0].out_channels
    corr = h16 * w16 * (2 * net.r16 + 1) ** 2 * c5 + h8 * w8 * (2 * net.r8 + 1) ** 2 * c3
    return total[0], corr


if __name__ == "__main__":
    net = FlowNetLite()
    m, c = cost_macs(net, 360, 480)
    print(f"params {sum(p.numel() for p in net.parameters())}; conv GMACs {m / 1e9:.4f}, corr GMACs {c / 1e9:.4f}; "
          f"GFLOPs (2 x conv MACs) {2 * m / 1e9:.3f}, with cost volumes {2 * (m + c) / 1e9:.3f}")
    f, feats = net(torch.zeros(1, 360, 480, 3, dtype=torch.uint8), torch.zeros(1, 360, 480, 3, dtype=torch.uint8))
    print(f.shape, feats.shape)
