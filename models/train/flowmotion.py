"""Large, varied motion on real texture with exact BACKWARD flow and an occlusion mask, for the flow model of
issue 16 (real displacements up to ~15% of the frame width).

A pair is built from layers, back to front: the background and up to four pasted layers (superellipse objects
textured from other frames, and half-planes that move apart from the rest, i.e. piecewise motion). Each layer L
has a backward homography H_L (current pixel p -> reference point H_L(p)) and its texture is sampled from a source
frame through an affine map T_L (random zoom and rotation, inside the source). The current frame shows, at p,
the top-most layer whose mask covers p, sampled at T_L(p); the reference shows, at q, the top-most layer whose
mask covers H_L^-1(q), sampled at T_L(H_L^-1(q)). So reference(H_L(p)) == current(p) wherever layer L is
visible at p in both frames, and the ground truth is flow(p) = H_L(p) - p of the layer visible at p.

Masks: `visible` is 0 where the point is occluded in the reference (a layer above L covers H_L(p)) or leaves the
frame; the loss weighs such pixels down (their flow is defined but cannot be matched, only inferred).

Motion classes, drawn per pair: small (RubberWhale-like, < ~3 px), medium (up to ~+-20 px, mild zoom and
rotation, slight perspective) and large (translation up to `max_shift` x the crop width, zoom up to +-25% as a
forward-moving camera, rotation up to +-8 deg, perspective); a curriculum `level` in [0, 1] scales the large
class from medium-like to full size. Source frames come from CamVid train and the DAVIS 2016 training sequences
(`../shared/data/davis2016-extra`), never from a set the flow is evaluated on.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from flowdata import rot, source_map


def load_pool(folders, limit=None, every=1):
    """RGB frames (float 0..255, [3,H,W] each, sizes may differ) from PNG/JPEG files under the folders (recursive),
    sorted, every `every`-th file; `limit` caps the count per folder."""
    pool = []
    for folder in folders:
        names = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs
                       if f.lower().endswith((".png", ".jpg", ".jpeg")))[::every]
        for name in names[:limit] if limit else names:
            im = np.asarray(Image.open(name).convert("RGB"), dtype=np.uint8)
            pool.append(torch.from_numpy(im).permute(2, 0, 1).float())
    return pool


def homography(rng, kind, w, h, level, max_shift):
    """A random backward homography (3x3, absolute pixel coordinates of an h x w frame) of the given class."""
    if kind == "small":
        t, zoom, th, persp, shear = rng.uniform(-3, 3, 2), 0.02, 1.0, 0.0, 0.01
    elif kind == "medium":
        t, zoom, th, persp, shear = rng.uniform(-20, 20, 2), 0.08, 4.0, 1e-4, 0.03
    else:
        big = max(20.0, max_shift * w * level)
        mag = big * math.sqrt(rng.uniform(0.05, 1.0))
        ang = rng.uniform(0, 2 * math.pi)
        t = np.array([math.cos(ang), math.sin(ang)]) * mag
        t[1] *= 0.6  # cameras pan more than they tilt
        zoom, th, persp, shear = 0.08 + 0.17 * level, 3.0 + 5.0 * level, 1e-4 + 3e-4 * level, 0.04
    s = math.exp(rng.uniform(-zoom, zoom))
    A = s * rot(math.radians(rng.uniform(-th, th))) @ (np.eye(2) + rng.uniform(-shear, shear, (2, 2)))
    c = np.array([w, h], dtype=np.float64) * rng.uniform(0.2, 0.8, 2)
    g = rng.uniform(-persp, persp, 2)
    # p -> c + (A (p - c) + t) / (1 + g . (p - c)), as one 3x3 matrix on homogeneous absolute coordinates
    to_c = np.array([[1, 0, -c[0]], [0, 1, -c[1]], [0, 0, 1]], dtype=np.float64)
    from_c = np.array([[1, 0, c[0]], [0, 1, c[1]], [0, 0, 1]], dtype=np.float64)
    core = np.array([[A[0, 0], A[0, 1], t[0]], [A[1, 0], A[1, 1], t[1]], [g[0], g[1], 1.0]])
    return from_c @ core @ to_c


def apply_h(H, pts):
    """A 3x3 homography on points [..., 2] (torch), absolute pixel coordinates."""
    Ht = torch.from_numpy(H).float()
    x = pts @ Ht[:2, :2].T + Ht[:2, 2]
    d = pts @ Ht[2, :2] + Ht[2, 2]
    return x / d.clamp_min(1e-3)[..., None]


def sample(img, A, b, pts):
    """img at A p + b for points pts [h,w,2] (bilinear, reflection outside)."""
    src_h, src_w = img.shape[1:]
    x = pts @ torch.from_numpy(A.T).float() + torch.from_numpy(b).float()
    grid = torch.stack([x[..., 0] * (2.0 / src_w) - 1.0, x[..., 1] * (2.0 / src_h) - 1.0], -1)[None]
    return F.grid_sample(img[None], grid, mode="bilinear", padding_mode="reflection", align_corners=False)[0]


def layer_mask(rng, w, h):
    """A random mask function pts -> [0,1] (about 1 px soft edge): a superellipse object or a half-plane."""
    if rng.random() < 0.25:  # a half-plane: part of the scene moving apart (piecewise motion)
        ang = rng.uniform(0, 2 * math.pi)
        n = torch.tensor([math.cos(ang), math.sin(ang)], dtype=torch.float32)
        at = torch.tensor([rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h], dtype=torch.float32)
        return lambda pts: (0.5 + (pts - at) @ n).clamp(0, 1)
    centre = torch.tensor([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h], dtype=torch.float32)
    radii = (rng.uniform(0.05, 0.3) * w, rng.uniform(0.05, 0.3) * h)
    phi, nexp = rng.uniform(0, math.pi), float(rng.choice([2, 2, 3, 6]))
    R = torch.from_numpy(rot(-phi)).float()

    def mask(pts):
        u = (pts - centre) @ R.T
        g = (u[..., 0].abs() / radii[0]) ** nexp + (u[..., 1].abs() / radii[1]) ** nexp
        return (0.5 - (g.clamp_min(1e-9) ** (1.0 / nexp) - 1.0) * min(radii)).clamp(0, 1)
    return mask


def motion_kind(rng):
    u = rng.random()
    return "small" if u < 0.25 else "medium" if u < 0.55 else "large"


def make_pair(pool, rng, gen, h, w, level=1.0, max_shift=0.3, photometric=True):
    """One pair: (reference [3,h,w], current [3,h,w], flow [2,h,w], visible [h,w]), images rounded 0..255."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    pts = torch.stack([xs, ys], -1).float()
    still = rng.random() < 0.03
    kind = motion_kind(rng)
    layers = []  # (H, H^-1, A, b, texture, mask or None), back to front
    for k in range(1 + (0 if still else int(rng.choice([0, 1, 1, 2, 2, 3, 4])))):
        tex = pool[rng.integers(len(pool))]
        if rng.random() < 0.5:
            tex = tex.flip(2)
        zoom = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        A, b = source_map(rng, h, w, tex.shape[1], tex.shape[2], zoom)
        if still:
            H = np.eye(3)
        elif k == 0:
            H = homography(rng, kind, w, h, level, max_shift)
        else:  # an object: the background's motion and its own on top, or a motion of its own
            own = homography(rng, motion_kind(rng) if rng.random() < 0.5 else "medium", w, h, level, max_shift * 0.5)
            H = own @ layers[0][0] if rng.random() < 0.6 else own
        layers.append((H, np.linalg.inv(H), A, b, tex, None if k == 0 else layer_mask(rng, w, h)))

    cur = torch.zeros(3, h, w)
    ref = torch.zeros(3, h, w)
    flow = torch.zeros(2, h, w)
    top = torch.zeros(h, w, dtype=torch.long)  # the layer visible at each current pixel
    for k, (H, Hi, A, b, tex, mask) in enumerate(layers):
        back = apply_h(Hi, pts)  # reference pixel q -> the current-frame point of this layer shown there
        mc = torch.ones(h, w) if mask is None else mask(pts)
        mr = torch.ones(h, w) if mask is None else mask(back)
        cur = mc * sample(tex, A, b, pts) + (1 - mc) * cur
        ref = mr * sample(tex, A, b, back) + (1 - mr) * ref
        flow = torch.where(mc[None] > 0.5, (apply_h(H, pts) - pts).permute(2, 0, 1), flow)
        top = torch.where(mc > 0.5, torch.full_like(top, k), top)

    # visible: the point H_L(p) is inside the reference frame and no layer above L covers it there
    target = pts + flow.permute(1, 2, 0)
    inside = (target[..., 0] >= 0) & (target[..., 0] <= w) & (target[..., 1] >= 0) & (target[..., 1] <= h)
    visible = inside.clone()
    for k, (_, Hk_inv, _, _, _, mask) in enumerate(layers[1:], 1):
        covered = mask(apply_h(Hk_inv, target)) > 0.5  # layer k covers the reference point of p
        visible &= ~(covered & (top < k))

    if photometric:
        pair = torch.stack([ref, cur]) * rng.uniform(0.7, 1.3)
        mean = pair.mean()
        pair = (pair - mean) * rng.uniform(0.7, 1.3) + mean
        grey = pair.mean(1, keepdim=True)
        pair = (pair - grey) * rng.uniform(0.7, 1.3) + grey
        if rng.random() < 0.3:  # a little blur, as fast motion and video codecs give
            pair = F.avg_pool2d(F.pad(pair, (1, 1, 1, 1), mode="replicate"), 3, 1)
        for k in range(2):
            pair[k] = pair[k] * rng.uniform(0.95, 1.05) + rng.uniform(-5, 5)
            pair[k] += torch.randn(pair[k].shape, generator=gen) * rng.uniform(0, 3)
        ref, cur = pair[0], pair[1]
    return ref.round().clamp(0, 255), cur.round().clamp(0, 255), flow, visible.float()


def make_batch(pool, rng, gen, batch, h, w, level=1.0, max_shift=0.3):
    """A batch of make_pair: (reference, current, flow, visible) stacked."""
    return tuple(torch.stack(x) for x in zip(*(make_pair(pool, rng, gen, h, w, level, max_shift)
                                                for _ in range(batch))))


_POOL = []  # the source frames of make_bank's worker processes (set before they fork)


def _bank_chunk(args):
    seed, n, h, w, max_shift = args
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ref, cur, flow, vis = make_pair(_POOL, rng, gen, h, w, rng.uniform(0.3, 1.0), max_shift)
        out.append((ref.to(torch.uint8), cur.to(torch.uint8), flow.half(), vis.to(torch.uint8)))
    return out


def make_bank(pool, n, h, w, seed, workers=2, max_shift=0.3, chunk=50):
    """n pairs of make_pair (each with its own curriculum level in [0.3, 1]), built by `workers` processes in chunks
    of `chunk` seeded from `seed` (the same bank for the same arguments): a dict of uint8 `reference`, `current`
    [n,3,h,w], float16 `flow` [n,2,h,w], uint8 `visible` [n,h,w] and `magnitude` [n] (each pair's 99th
    percentile of |flow|, for the curriculum)."""
    import multiprocessing as mp
    global _POOL
    _POOL = pool
    jobs = [(seed * 100003 + k, min(chunk, n - k * chunk), h, w, max_shift) for k in range(-(-n // chunk))]
    with mp.get_context("fork").Pool(workers) as workers_pool:
        pairs = [p for part in workers_pool.map(_bank_chunk, jobs) for p in part]
    ref, cur, flow, vis = (torch.stack(x) for x in zip(*pairs))
    mag = torch.quantile(flow.float().norm(dim=1).flatten(1), 0.99, dim=1)
    return {"reference": ref, "current": cur, "flow": flow, "visible": vis, "magnitude": mag}


def bank_batch(bank, rng, batch, h, w, cap=None):
    """A training batch from the bank: pairs whose magnitude is at most `cap` px (all when None), a random h x w crop
    of each, mirrored at random (flow x negated), a shared brightness/contrast change per pair: float
    (reference, current [N,3,h,w] 0..255, flow [N,2,h,w], visible [N,h,w])."""
    allowed = torch.arange(len(bank["magnitude"])) if cap is None else torch.nonzero(bank["magnitude"] <= cap)[:, 0]
    if len(allowed) < batch:
        allowed = torch.argsort(bank["magnitude"])[:max(batch, 64)]
    full_h, full_w = bank["reference"].shape[2:]
    refs, curs, flows, viss = [], [], [], []
    for i in allowed[rng.integers(len(allowed), size=batch)].tolist():
        y0, x0 = rng.integers(0, full_h - h + 1), rng.integers(0, full_w - w + 1)
        crop = lambda t: t[i, ..., y0:y0 + h, x0:x0 + w].float()
        ref, cur, flow, vis = crop(bank["reference"]), crop(bank["current"]), crop(bank["flow"]), crop(bank["visible"])
        if rng.random() < 0.5:
            ref, cur, vis = ref.flip(-1), cur.flip(-1), vis.flip(-1)
            flow = flow.flip(-1) * torch.tensor([-1.0, 1.0]).view(2, 1, 1)
        gain, shift = rng.uniform(0.85, 1.15), rng.uniform(-10, 10)
        refs.append((ref * gain + shift).clamp(0, 255))
        curs.append((cur * gain + shift).clamp(0, 255))
        flows.append(flow)
        viss.append(vis)
    return torch.stack(refs), torch.stack(curs), torch.stack(flows), torch.stack(viss)
