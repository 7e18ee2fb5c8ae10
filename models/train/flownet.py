"""FlowNet-lite: the small PWC-style optical-flow network behind `models/*/flow.onnx`.

Contract (see models/train/README.md, section "flow"):
  inputs  `reference`, `current`: uint8 NHWC [1,H,W,3] RGB, H and W multiples of 8 (normalised in the graph)
  outputs `flow`     float32 [1,2,H/8,W/8]: x then y, in pixels of the stride-8 grid, BACKWARD:
                     warped(p) = reference(p + flow(p)) reproduces current(p)
          `features` float32 [1,32,ceil(H/16),ceil(W/16)]: the stride-16 decoder's hidden state (correlation +
                     current-frame features, i.e. motion-aware, the analogue of FlowNet's conv6), stride 16

Architecture (levels=3, models/camvid since stop 16): a shared conv pyramid (stride 2/4/8/16/32), a cost volume at
stride 32 (+-4, i.e. +-128 image px) -> coarse flow; at stride 16 and then 8: upsample x2, warp the reference's map
(GridSample), a +-3 / +-2 cost volume, a two-conv decoder -> residual flow. levels=2 (the first model, still
models/synthetic): pyramid to stride 16, a +-4 cost volume there (+-64 px) -> coarse flow, one warp + +-2 volume at
stride 8 -> residual flow, one-conv decoders. No BatchNorm (nothing to fold); LeakyReLU(0.1) as PWC-Net.
out_stride=4 (the optional stride-4 output, `flow-s4` models): one more level at stride 4 (warp of the reference's
stride-4 map, a +-2 cost volume, a two-conv decoder, residual flow); `flow` is then [1,2,H/4,W/4] in stride-4 cells
and the encoder cut has a fourth output, `pyramid4`.

Written for onnxruntime's CPU kernels; the same code trains (same parameters, same function as the original
per-displacement formulation, up to float rounding):
- each cost volume is a handful of batched ops instead of a Slice/Mul/ReduceSum per displacement (106 of
  each before): rows of the map are cut into tiles of 8 pixels, ONE Gather collects, for every tile, the block
  of the zero-padded other map its displacements reach, ONE batched MatMul multiplies each tile with its block,
  and the (2r+1)^2 wanted products are read off by a skew (pad, reshape, slice; see cost_volume);
- the volumes carry a few all-zero channels so that the decoder convs see a multiple of 8 input channels
  (121 -> 128, 59 -> 64): their weights get zero columns there (`ZeroGapConv2d`, same parameters), and
  onnxruntime runs them in its blocked NCHWc layout like the encoder instead of a plain im2col conv;
- both frames go through normalisation (one BatchNormalization op) and the pyramid as one batch, the
  stride-16 features are L2-normalised once for both, and the cost volumes and decoder inputs are built
  channels-last, which onnxruntime folds into its layout reorders.
Plain ONNX ops (opset 16 for GridSample), dynamic H and W.

Cuts of the same weights, for a flow stage that encodes each frame once (models/train/README.md, "flow"):
FlowEncode (one frame -> its stride-8 and stride-16 pyramid features) and FlowDecode (the reference's and the
current frame's features -> flow, features); FlowDecode(FlowEncode(reference), FlowEncode(current)) == forward.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.40, 0.42, 0.43)
STD = (0.29, 0.30, 0.30)
STRIDE = 8
FEATURE_STRIDE = 16


class ZeroGapConv2d(nn.Conv2d):
    """A Conv2d whose input has `gap[1]` extra all-zero channels inserted at channel `gap[0]`: the weight gets
    zero columns there. Same parameters (and state-dict keys) as the plain Conv2d, same result; it only lets the
    input have a multiple of 8 channels, which onnxruntime's blocked (NCHWc) conv kernels need."""

    def __init__(self, cin, cout, k, stride, padding, gap):
        super().__init__(cin, cout, k, stride, padding)
        self.gap = gap

    def full_weight(self):
        """The weight with the zero columns, [out, in + gap[1], kh, kw]."""
        at, n = self.gap
        w = self.weight
        return torch.cat([w[:, :at], w.new_zeros(w.shape[0], n, *w.shape[2:]), w[:, at:]], 1) if n else w

    def forward(self, x):
        return self._conv_forward(x, self.full_weight(), self.bias)


def conv(cin, cout, stride=1, act=True, gap=None):
    layers = [nn.Conv2d(cin, cout, 3, stride, 1) if gap is None else ZeroGapConv2d(cin, cout, 3, stride, 1, gap)]
    if act:
        layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


def unit(f, dim=1):
    """Per-pixel L2 normalisation over channels, so the cost volume is a cosine similarity in [-1, 1]."""
    return f / torch.sqrt((f * f).sum(dim, keepdim=True) + 1e-6)


def pad8(n):
    """Zero channels that bring n up to a multiple of 8."""
    return -n % 8


def cost_volume(a, b, r, slots=None, tile=8):
    """Cost volume of channels-last maps a, b [N, h, w, C], channels last too: out[..., k] = sum_c a(p) b(p + d_k),
    d_k = (dx, dy), k = (dy + r) * (2r+1) + (dx + r); b is zero outside the map; [N, h, w, slots], channels
    (2r+1)^2 .. slots-1 zeros.

    As one batched matrix product, not per-displacement ops. The map is cut into tiles of `tile` pixels of a row;
    for each tile, its [tile, C] block of a times the [(2r+1) (tile+2r), C] block of the zero-padded b that its
    displacements reach (rows y-r .. y+r, columns x0-r .. x0+tile-1+r; one Gather for all tiles) gives every
    product a(x) . b(x'); the (2r+1)^2 wanted ones (x' = x + dx) are read off by the skew trick: flatten each
    tile's [tile, (2r+1) L] block (L = tile + 2r), append `tile` values (never read), view it as
    [tile, (2r+1) L + 1]: the entry for (dy, dx) is then column dy L + dx of row x. L/(2r+1) x the direct form's
    multiplies, as GEMMs instead of elementwise ops over a [D, h, w, C] tensor.
    """
    n, h, w, c = a.shape
    k = 2 * r + 1
    t = tile
    span = t + 2 * r
    tiles = (w + t - 1) // t
    wb = w + 2 * r + t - 1  # b's padded width: the last tile's window fits
    dev = a.device
    rows = (torch.arange(h, device=dev).view(h, 1, 1, 1) + torch.arange(k, device=dev).view(1, 1, k, 1)) * wb
    cols = torch.arange(tiles, device=dev).view(1, tiles, 1, 1) * t + torch.arange(span, device=dev).view(1, 1, 1, span)
    bp = F.pad(b, (0, 0, r, r + t - 1, r, r)).reshape(n, -1, c)  # [N, (h+2r) wb, C]
    band = bp.index_select(1, (rows + cols).reshape(-1)).reshape(-1, k * span, c)  # [N h tiles, (2r+1) L, C]
    at = F.pad(a, (0, 0, 0, t - 1))[:, :, :tiles * t].reshape(-1, t, c)  # [N h tiles, tile, C]
    prod = torch.matmul(at, band.transpose(1, 2)).reshape(-1, t * k * span)
    prod = F.pad(prod, (0, t)).reshape(-1, t, k * span + 1)[:, :, :k * span]  # skew: (dy, dx) at dy L + dx
    out = prod.reshape(-1, t, k, span)[..., :k].reshape(n, h, -1, k * k)[:, :, :w]
    slots = slots or k * k
    return F.pad(out, (0, slots - k * k)) if slots > k * k else out


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def nchw(x):
    return x.permute(0, 3, 1, 2)


def correlation(a, b, r, slots=None):
    """Cost volume of the unit-normalised NCHW maps (cosine similarity), NCHW; see cost_volume."""
    return nchw(cost_volume(unit(nhwc(a), 3), unit(nhwc(b), 3), r, slots))


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
    """levels=3 (the default): a stride-32 cost volume (+-r32 cells) gives the coarse flow, refined at stride 16
    (warp + +-r16 volume, residual) and at stride 8 (warp + +-r8 volume, residual); each decoder is two convs and a
    flow head. levels=2: the first FlowNet-lite (stride-16 volume +-4 cells, one-conv decoders), kept so that its
    files can still be read (state_dict_from_onnx) and re-exported."""

    def __init__(self, levels=3, c=(8, 16, 32, 32, 40, 48), r32=4, r16=None, r8=2, hid16=32, hid8=24, out_stride=8,
                 r4=2, hid4=16):
        super().__init__()
        c1, c2, c3, c4, c5, c6 = c
        assert out_stride in (4, 8), out_stride
        self.levels = levels
        self.stride = out_stride
        self.r4 = r4
        self.r16 = r16 if r16 is not None else (3 if levels == 3 else 4)
        self.r32, self.r8 = r32, r8
        self.enc2 = conv(3, c1, 2)                                   # stride 2
        self.enc4 = conv(c1, c2, 2)                                  # stride 4
        self.enc8 = nn.Sequential(conv(c2, c3, 2), conv(c3, c3))     # stride 8
        self.enc16 = nn.Sequential(conv(c3, c4, 2), conv(c4, c5))    # stride 16
        n16 = (2 * self.r16 + 1) ** 2
        n8 = (2 * r8 + 1) ** 2
        # Cost volumes padded with zero channels so the decoders' inputs have a multiple of 8 channels (121 -> 128,
        # 59 -> 64); the decoder weights get zero columns there (ZeroGapConv2d): same parameters, same outputs.
        self.slots8 = n8 + pad8(n8 + c3 + 2)
        self.dec8 = conv(n8 + c3 + 2, hid8, gap=(n8, self.slots8 - n8))
        self.flow8 = conv(hid8, 2, act=False)
        if levels == 3:
            n32 = (2 * r32 + 1) ** 2
            self.enc32 = nn.Sequential(conv(c5, c6, 2), conv(c6, c6))   # stride 32
            self.slots32 = n32 + pad8(n32 + c6)
            self.dec32 = nn.Sequential(conv(n32 + c6, 2 * hid16, gap=(n32, self.slots32 - n32)), conv(2 * hid16, hid16))
            self.flow32 = conv(hid16, 2, act=False)
            self.slots16 = n16 + pad8(n16 + c5 + 2)
            self.dec16 = nn.Sequential(conv(n16 + c5 + 2, 2 * hid16, gap=(n16, self.slots16 - n16)), conv(2 * hid16, hid16))
            self.dec8b = conv(hid8, hid8)
        else:
            self.slots16 = n16 + pad8(n16 + c5)
            self.dec16 = conv(n16 + c5, hid16, gap=(n16, self.slots16 - n16))
        self.flow16 = conv(hid16, 2, act=False)
        if out_stride == 4:
            # One more level (the optional stride-4 output): warp of the reference's stride-4 map by the upsampled
            # stride-8 flow, a +-r4 cost volume, a two-conv decoder and a residual flow.
            n4 = (2 * r4 + 1) ** 2
            self.slots4 = n4 + pad8(n4 + c2 + 2)
            self.dec4 = conv(n4 + c2 + 2, hid4, gap=(n4, self.slots4 - n4))
            self.dec4b = conv(hid4, hid4)
            self.flow4 = conv(hid4, 2, act=False)
        self.features_channels = hid16
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255, persistent=False)

    def encode(self, x):
        """The pyramid maps the decoder reads: (stride 8, stride 16[, stride 32][, stride 4 with out_stride 4])."""
        f4 = self.enc4(self.enc2(x))
        f8 = self.enc8(f4)
        f16 = self.enc16(f8)
        maps = (f8, f16, self.enc32(f16)) if self.levels == 3 else (f8, f16)
        return maps + (f4,) if self.stride == 4 else maps

    def prep(self, img):
        """uint8 (or 0..255 float) NHWC -> normalised float NCHW."""
        x = img.permute(0, 3, 1, 2).float()
        # (x - mean) / std as one op (BatchNormalization in ONNX)
        return F.batch_norm(x, self.mean.flatten(), (self.std * self.std).flatten(), eps=0.0)

    def forward_nchw(self, ref, cur):
        """ref, cur: normalised float NCHW. Returns (finest flow, coarser flows..., features16), flows in own-grid
        pixels: (flow8, flow16, h16) for levels=2, (flow8, flow16, flow32, h16) for levels=3, with out_stride 4 the
        stride-4 flow first: (flow4, flow8, ...)."""
        return self.decode(torch.cat([cur, ref], 0))

    def decode(self, x):
        """x: the current frames then the reference frames, normalised float NCHW [2N,3,H,W]."""
        n = x.shape[0] // 2
        maps = self.encode(x)  # one batched pass through the shared pyramid
        return self.decode_maps([m[n:] for m in maps], [m[:n] for m in maps])

    def decode_maps(self, reference, current):
        """The decoder on the pyramid maps of both frames (lists in encode's order)."""
        k = self.levels
        out = (self._decode3 if k == 3 else self._decode2)(reference[:k], current[:k])
        if self.stride == 4:
            return (self._refine4(reference[k], current[k], out[0]),) + out
        return out

    def _refine4(self, r4, c4, flow8):
        up = resize(flow8, c4) * 2.0
        a4 = nhwc(c4)
        cv4 = cost_volume(unit(a4, 3), unit(nhwc(warp(r4, up)), 3), self.r4, self.slots4)
        h4 = self.dec4b(self.dec4(nchw(torch.cat([cv4, a4, nhwc(up)], 3))))
        return up + self.flow4(h4)

    def _refine8(self, r8, c8, coarse):
        up = resize(coarse, c8) * 2.0
        a8 = nhwc(c8)
        cv8 = cost_volume(unit(a8, 3), unit(nhwc(warp(r8, up)), 3), self.r8, self.slots8)
        h8 = self.dec8(nchw(torch.cat([cv8, a8, nhwc(up)], 3)))
        if self.levels == 3:
            h8 = self.dec8b(h8)
        return up + self.flow8(h8)

    def _decode2(self, reference, current):
        (r8, r16), (c8, c16) = reference, current
        c16, r16 = nhwc(c16), nhwc(r16)  # channels last from here to the decoder's input
        cv16 = cost_volume(unit(c16, 3), unit(r16, 3), self.r16, self.slots16)
        h16 = self.dec16(nchw(torch.cat([cv16, c16], 3)))
        flow16 = self.flow16(h16)
        return self._refine8(r8, c8, flow16), flow16, h16

    def _decode3(self, reference, current):
        (r8, r16, r32), (c8, c16, c32) = reference, current
        c32, r32 = nhwc(c32), nhwc(r32)
        cv32 = cost_volume(unit(c32, 3), unit(r32, 3), self.r32, self.slots32)
        flow32 = self.flow32(self.dec32(nchw(torch.cat([cv32, c32], 3))))
        up = resize(flow32, c16) * 2.0
        a16 = nhwc(c16)
        cv16 = cost_volume(unit(a16, 3), unit(nhwc(warp(r16, up)), 3), self.r16, self.slots16)
        h16 = self.dec16(nchw(torch.cat([cv16, a16, nhwc(up)], 3)))
        flow16 = up + self.flow16(h16)
        return self._refine8(r8, c8, flow16), flow16, flow32, h16

    def forward(self, reference, current):
        """ONNX entry: uint8 NHWC reference/current -> (flow [N,2,H/s,W/s] (s = self.stride), features
        [N,32,H/16,W/16])."""
        out = self.decode(self.prep(torch.cat([current, reference], 0)))
        return out[0], out[-1]


def encode_names(net):
    """The encoder cut's outputs, in FlowNetLite.encode's order."""
    return ["pyramid8", "pyramid16", "pyramid32"][:net.levels] + (["pyramid4"] if net.stride == 4 else [])


class FlowEncode(nn.Module):
    """The `flow-encode` cut of a FlowNetLite (its own modules, so the same weights and parameter names): one frame,
    uint8 NHWC [N,H,W,3] -> its pyramid maps (`pyramid8` [N,32,H/8,W/8], `pyramid16` [N,40,ceil(H/16),ceil(W/16)]
    and, with 3 levels, `pyramid32`), exactly what FlowNetLite.decode computes for each frame of its batch."""

    def __init__(self, net):
        super().__init__()
        self.levels, self.stride = net.levels, net.stride
        self.enc2, self.enc4, self.enc8, self.enc16 = net.enc2, net.enc4, net.enc8, net.enc16
        if net.levels == 3:
            self.enc32 = net.enc32
        self.register_buffer("mean", net.mean, persistent=False)
        self.register_buffer("std", net.std, persistent=False)

    prep = FlowNetLite.prep
    encode = FlowNetLite.encode

    def forward(self, image):
        return self.encode(self.prep(image))


class FlowDecode(nn.Module):
    """The `flow-decode` cut of a FlowNetLite: the reference's then the current frame's pyramid maps (FlowEncode)
    -> (flow [N,2,H/8,W/8], features [N,32,ceil(H/16),ceil(W/16)]), FlowNetLite.decode_maps op for op, so
    decode(encode(reference), encode(current)) == forward(reference, current) up to float rounding."""

    def __init__(self, net):
        super().__init__()
        self.levels, self.stride = net.levels, net.stride
        names = ["dec8", "flow8", "dec16", "flow16"] + (["dec32", "flow32", "dec8b"] if net.levels == 3 else [])
        names += ["dec4", "dec4b", "flow4"] if net.stride == 4 else []
        for name in names:
            setattr(self, name, getattr(net, name))
        sizes = ["r4", "r8", "r16", "r32", "slots8", "slots16"] + (["slots32"] if net.levels == 3 else [])
        for name in sizes + (["slots4"] if net.stride == 4 else []):
            setattr(self, name, getattr(net, name))

    decode_maps = FlowNetLite.decode_maps
    _decode2 = FlowNetLite._decode2
    _decode3 = FlowNetLite._decode3
    _refine8 = FlowNetLite._refine8
    _refine4 = FlowNetLite._refine4

    def forward(self, *maps):
        k = len(maps) // 2
        out = self.decode_maps(list(maps[:k]), list(maps[k:]))
        return out[0], out[-1]


def cut_macs(net, h, w):
    """Conv MACs of the two cuts at 1x3xHxW: (flow-encode on one frame, flow-decode on one pair). The whole model
    is 2 x encode + decode (its cost volumes, in the decoder, are apart: see cost_macs)."""
    total = {"enc": 0, "dec": 0}

    def hook(part):
        def count(m, inp, out):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            total[part] += out.numel() * k
        return count

    encoder, decoder = FlowEncode(net).eval(), FlowDecode(net).eval()
    hs = [m.register_forward_hook(hook("enc")) for m in encoder.modules() if isinstance(m, nn.Conv2d)]
    hs += [m.register_forward_hook(hook("dec")) for m in decoder.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        maps = encoder(torch.zeros(1, h, w, 3))
        decoder(*maps, *maps)
    for hd in hs:
        hd.remove()
    return total["enc"], total["dec"]


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
    if net.levels == 3:
        h32, w32 = -(-h16 // 2), -(-w16 // 2)
        corr += h32 * w32 * (2 * net.r32 + 1) ** 2 * net.enc32[1][0].out_channels
    if net.stride == 4:
        corr += -(-h // 4) * -(-w // 4) * (2 * net.r4 + 1) ** 2 * net.enc4[0].out_channels
    return total[0], corr


if __name__ == "__main__":
    import sys
    net = FlowNetLite(out_stride=int(sys.argv[1]) if len(sys.argv) > 1 else 8)
    m, c = cost_macs(net, 360, 480)
    print(f"params {sum(p.numel() for p in net.parameters())}; conv GMACs {m / 1e9:.4f}, corr GMACs {c / 1e9:.4f}; "
          f"GFLOPs (2 x conv MACs) {2 * m / 1e9:.3f}, with cost volumes {2 * (m + c) / 1e9:.3f}")
    f, feats = net(torch.zeros(1, 360, 480, 3, dtype=torch.uint8), torch.zeros(1, 360, 480, 3, dtype=torch.uint8))
    print(f.shape, feats.shape)
