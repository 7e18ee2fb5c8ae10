"""Synthetic flow pairs on real CamVid texture, with exact BACKWARD ground truth, plus Middlebury I/O.

A pair is (reference, current, flow) with  reference(p + flow(p)) == current(p)  for every current pixel p
(flow in image pixels, x then y). Coordinates are continuous with pixel centres at i + 0.5, the convention of
grid_sample(align_corners=False) and of the engine's warp stage.

Construction: the current frame samples a source frame I through an affine map T_c (random zoom, small rotation,
random position, always inside I). The background's backward motion is an affine B(p) = c + M (p - c) + t
(scale 0.9-1.1, rotation, shear, translation); the reference samples I through T_r = T_c o B^-1, so that
reference(B(p)) = I(T_c(p)) = current(p) and flow(p) = B(p) - p exactly. Up to two independently moving
objects (superellipse masks textured from another train frame, each with its own backward affine) are pasted
on top, giving motion boundaries and occlusions; ground truth takes the top-most object covering p in the
current frame. Photometric jitter (shared and per frame), Gaussian noise, then rounding to uint8 levels.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def load_frames(folder, limit=None, size=None):
    names = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
    if limit:
        names = names[:limit]
    out = []
    for n in names:
        im = Image.open(os.path.join(folder, n)).convert("RGB")
        if size:
            im = im.resize((size[1], size[0]), Image.BILINEAR)
        out.append(np.asarray(im, dtype=np.uint8))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float()  # N,3,H,W 0..255


def read_flo(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"PIEH", f"{path}: not a .flo file"
    w, h = np.frombuffer(data[4:12], np.int32)
    return np.frombuffer(data[12:12 + 8 * w * h], np.float32).reshape(h, w, 2).copy()


def read_png(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


def rot(theta):
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def random_motion(rng, small):
    """Backward affine motion (M, t) of the background or an object. `small`: RubberWhale-like sub-pixel to
    few-pixel motion; otherwise up to ~+-12 px translation, scale 0.9-1.1, rotation +-4 deg."""
    k = 0.25 if small else 1.0
    t = rng.uniform(-12, 12, 2) * k
    s = math.exp(rng.uniform(math.log(0.9), math.log(1.1)) * k)
    th = math.radians(rng.uniform(-4, 4)) * k
    shear = np.array([[1 + rng.uniform(-0.03, 0.03) * k, rng.uniform(-0.03, 0.03) * k],
                      [rng.uniform(-0.03, 0.03) * k, 1 + rng.uniform(-0.03, 0.03) * k]])
    return s * rot(th) @ shear, t


def source_map(rng, h, w, src_h, src_w, zoom):
    """Affine T_c(p) = A p + b mapping the h x w current frame into the source frame, fully inside it."""
    for _ in range(20):
        A = zoom * rot(math.radians(rng.uniform(-3, 3)))
        corners = A @ np.array([[0, w, 0, w], [0, 0, h, h]], dtype=np.float64)
        lo, hi = corners.min(1), corners.max(1)
        room = np.array([src_w, src_h]) - (hi - lo)
        if (room >= 0).all():
            b = -lo + rng.uniform(0, 1, 2) * room
            return A, b
        zoom *= 0.9
    raise ValueError("crop does not fit in the source frame")


def compose_reference(A, b, M, t, c):
    """T_r = T_c o B^-1 for B(p) = c + M (p - c) + t:  T_r(q) = A M^-1 (q - c - t) + A c + b."""
    Mi = np.linalg.inv(M)
    return A @ Mi, A @ (c - Mi @ (c + t)) + b


def grid_for(A, b, pts, src_h, src_w):
    """Sampling grid (normalised, align_corners=False) of x = A p + b for pixel centres pts [h,w,2]."""
    x = pts @ torch.from_numpy(A.T).float() + torch.from_numpy(b).float()
    return torch.stack([x[..., 0] * (2.0 / src_w) - 1.0, x[..., 1] * (2.0 / src_h) - 1.0], -1)


def superellipse(pts, centre, radii, phi, n):
    """Soft (about 1 px ramp) mask of a rotated superellipse, evaluated at points pts [...,2]."""
    d = pts - torch.tensor(centre, dtype=torch.float32)
    R = torch.from_numpy(rot(-phi)).float()
    u = d @ R.T
    g = (u[..., 0].abs() / radii[0]) ** n + (u[..., 1].abs() / radii[1]) ** n
    dist = (g.clamp_min(1e-9) ** (1.0 / n) - 1.0) * min(radii)
    return (0.5 - dist).clamp(0, 1)


def apply_affine(M, t, c, pts):
    """B(p) = c + M (p - c) + t on points [...,2] (numpy M, t, c)."""
    Mt = torch.from_numpy(M.T).float()
    ct = torch.from_numpy(c).float()
    return (pts - ct) @ Mt + ct + torch.from_numpy(t).float()


def make_pair(frames, rng, gen, h, w, objects=True, photometric=True):
    """One synthetic pair: (reference [3,h,w], current [3,h,w], flow [2,h,w]) floats, images 0..255 integers."""
    n, _, src_h, src_w = frames.shape
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    pts = torch.stack([xs, ys], -1).float()  # [h,w,2] (x, y) pixel centres

    def sample(img, A, b, padding):
        grid = grid_for(A, b, pts, src_h, src_w)[None]
        return F.grid_sample(img[None], grid, mode="bilinear", padding_mode=padding, align_corners=False)[0]

    small = rng.random() < 0.35
    still = rng.random() < 0.04
    I = frames[rng.integers(n)]
    if rng.random() < 0.5:
        I = I.flip(2)
    A, b = source_map(rng, h, w, src_h, src_w, math.exp(rng.uniform(math.log(0.6), math.log(1.3))))
    M, t = (np.eye(2), np.zeros(2)) if still else random_motion(rng, small)
    c = np.array([w, h], dtype=np.float64) * rng.uniform(0.2, 0.8, 2)
    Ar, br = compose_reference(A, b, M, t, c)
    cur = sample(I, A, b, "reflection")
    ref = sample(I, Ar, br, "reflection")
    flow = (apply_affine(M, t, c, pts) - pts).permute(2, 0, 1)

    if objects and not still:
        for _ in range(rng.choice([0, 1, 1, 2])):
            J = frames[rng.integers(n)]
            Ao, bo = source_map(rng, h, w, src_h, src_w, math.exp(rng.uniform(math.log(0.6), math.log(1.4))))
            Mo, to = random_motion(rng, small)
            centre = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h])
            radii = (rng.uniform(0.06, 0.3) * w, rng.uniform(0.06, 0.3) * h)
            phi, nexp = rng.uniform(0, math.pi), float(rng.choice([2, 2, 3, 6]))
            Aro, bro = compose_reference(Ao, bo, Mo, to, centre)
            mc = superellipse(pts, centre, radii, phi, nexp)
            # reference: the object's mask moves with it: m_r(q) = m_c(B_o^-1(q))
            Moi = np.linalg.inv(Mo)
            q_back = apply_affine(Moi, -Moi @ to, centre, pts)
            mr = superellipse(q_back, centre, radii, phi, nexp)
            cur = mc * sample(J, Ao, bo, "reflection") + (1 - mc) * cur
            ref = mr * sample(J, Aro, bro, "reflection") + (1 - mr) * ref
            fo = (apply_affine(Mo, to, centre, pts) - pts).permute(2, 0, 1)
            flow = torch.where(mc[None] > 0.5, fo, flow)

    if photometric:
        # shared: brightness, contrast, saturation; then per frame: small gain/offset and noise
        pair = torch.stack([ref, cur])
        pair = pair * rng.uniform(0.7, 1.3)
        mean = pair.mean()
        pair = (pair - mean) * rng.uniform(0.7, 1.3) + mean
        grey = pair.mean(1, keepdim=True)
        pair = (pair - grey) * rng.uniform(0.7, 1.3) + grey
        for k in range(2):
            pair[k] = pair[k] * rng.uniform(0.96, 1.04) + rng.uniform(-4, 4)
            pair[k] += torch.randn(pair[k].shape, generator=gen) * rng.uniform(0, 3)
        ref, cur = pair[0], pair[1]
    return ref.round().clamp(0, 255), cur.round().clamp(0, 255), flow


def load_world(root, split, limit=None):
    """Consecutive frame pairs of the synthetic world (`deno task synth` layout) with their exact backward flow:
    [(reference [3,H,W], current [3,H,W], flow [2,H,W])] for every sequence of ImageSets/2017/<split>.txt."""
    sets = os.path.join(root, "ImageSets", "2017", f"{split}.txt")
    if not os.path.exists(sets) or not os.path.isdir(os.path.join(root, "flow")):
        return []
    with open(sets) as f:
        seqs = [line.strip() for line in f if line.strip()]
    pairs = []
    for seq in seqs:
        frames_dir = os.path.join(root, "JPEGImages", "480p", seq)
        for name in sorted(os.listdir(os.path.join(root, "flow", seq))):
            k = int(name.split(".")[0])
            cur = read_png(os.path.join(frames_dir, f"{k:05d}.png"))
            ref = read_png(os.path.join(frames_dir, f"{k - 1:05d}.png"))
            flo = read_flo(os.path.join(root, "flow", seq, name))
            pairs.append(tuple(torch.from_numpy(a).permute(2, 0, 1).float() for a in (ref, cur, flo)))
            if limit and len(pairs) >= limit:
                return pairs
    return pairs


def world_batch(pairs, rng, batch, h, w):
    """A batch of random h x w crops of real synthetic-world pairs, randomly mirrored (flow x negated)."""
    refs, curs, flows = [], [], []
    for _ in range(batch):
        ref, cur, flow = pairs[rng.integers(len(pairs))]
        y0 = rng.integers(0, ref.shape[1] - h + 1)
        x0 = rng.integers(0, ref.shape[2] - w + 1)
        ref, cur, flow = (a[:, y0:y0 + h, x0:x0 + w] for a in (ref, cur, flow))
        if rng.random() < 0.5:
            ref, cur, flow = ref.flip(2), cur.flip(2), flow.flip(2) * torch.tensor([-1.0, 1.0]).view(2, 1, 1)
        refs.append(ref)
        curs.append(cur)
        flows.append(flow)
    return torch.stack(refs), torch.stack(curs), torch.stack(flows)


def make_batch(frames, rng, gen, batch, h, w):
    refs, curs, flows = zip(*(make_pair(frames, rng, gen, h, w) for _ in range(batch)))
    return torch.stack(refs), torch.stack(curs), torch.stack(flows)
