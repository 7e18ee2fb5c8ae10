"""Training data for PML's embedding (train_embed.py): videos with per-frame object masks, and the triplets drawn
from them with strong photometric and geometric augmentation.

Two kinds of source, mixed per batch:
- the synthetic world in DAVIS 2017 layout (`JPEGImages/480p/<seq>`, `Annotations/480p/<seq>` object ids, sequence
  lists in `ImageSets/2017/{train,val}.txt`): many objects per video;
- real DAVIS 2016 sequences (`JPEGImages/480p/<seq>/*.jpg`, `Annotations/480p/<seq>/*.png` 0/255): one object,
  real appearance, real motion, real cameras (`../shared/data/davis2016-extra`, never the evaluation sequences).

A triplet is one anchor frame and two pool frames of the same video, the pool frames anywhere in the video (or within
`gap` frames), each warped by its own random similarity (scale, rotation, shift around a shared crop) and recoloured
(shared strong jitter plus a milder per-frame one): objects change pose, size, lighting and position between
reference and query as they do over a real video.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def load_synthetic(root, split, limit=None):
    """[(images [N,H,W,3] uint8, ids [N,H,W] uint8)] of the synthetic world's `split` sequences."""
    with open(os.path.join(root, "ImageSets", "2017", f"{split}.txt")) as f:
        names = [line.strip() for line in f if line.strip()]
    return [load_sequence(root, name) for name in (names[:limit] if limit else names)]


def load_davis(root, names, limit=None):
    """The DAVIS 2016 sequences `names` of `root` with their 0/255 masks as ids 0/1."""
    seqs = []
    for name in names[:limit] if limit else names:
        imgs, masks = load_sequence(root, name)
        seqs.append((imgs, (masks > 127).astype(np.uint8)))
    return seqs


def load_sequence(root, name):
    fdir = os.path.join(root, "JPEGImages", "480p", name)
    adir = os.path.join(root, "Annotations", "480p", name)
    if not os.path.isdir(fdir) or not os.path.isdir(adir):
        raise SystemExit(f"error: {root}: no sequence {name} (JPEGImages/480p/{name} and Annotations/480p/{name})")
    files = sorted(n for n in os.listdir(fdir) if n.lower().endswith((".jpg", ".jpeg", ".png")))
    imgs = np.stack([np.asarray(Image.open(os.path.join(fdir, n)).convert("RGB")) for n in files])
    masks = np.stack([mask_ids(os.path.join(adir, os.path.splitext(n)[0] + ".png")) for n in files])
    return imgs, masks


def mask_ids(path):
    """A mask PNG as ids: palette indices (P), grey values (L), or the first channel of an RGB(A) 0/255 mask."""
    im = Image.open(path)
    if im.mode in ("P", "L"):
        return np.asarray(im)
    return np.asarray(im.convert("RGB"))[..., 0]


def crop_theta(f, angle, cx, cy, crop, frame):
    """affine_grid theta (output -> input, normalised coordinates) of a crop of `crop` (h, w) px showing the frame
    (h, w) at f input px per output px, rotated by `angle` radians, centred at (cx, cy) (normalised input)."""
    (ch, cw), (h, w) = crop, frame
    c, s = math.cos(angle) * f, math.sin(angle) * f
    return torch.tensor([[c * cw / w, -s * ch / w, cx], [s * cw / h, c * ch / h, cy]], dtype=torch.float32)


def warp(image, ids, theta, size):
    """image [3,H,W] float, ids [H,W] int64 -> both resampled to `size` by `theta`; pixels from outside the frame are
    grey and id 255 (ignored by the loss)."""
    grid = F.affine_grid(theta[None], (1, 3, *size), align_corners=False)
    im = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    inside = F.grid_sample(torch.ones(1, 1, *image.shape[1:]), grid, mode="nearest", padding_mode="zeros",
                           align_corners=False)[0, 0] > 0.5
    m = F.grid_sample(ids[None, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[0, 0]
    m = torch.where(inside, m.long(), torch.full_like(m, 255, dtype=torch.long))
    im = torch.where(inside[None], im, torch.full_like(im, 128.0))
    return im, m


def recolour(im, rng, strength):
    """Per-channel gain, brightness, contrast, saturation and gamma, `strength` 1 = the shared (strong) jitter."""
    u = lambda lo, hi: 1 + (rng.uniform(lo, hi) - 1) * strength
    gain = torch.tensor([u(0.8, 1.2) for _ in range(3)]).view(3, 1, 1)
    im = im * gain + rng.uniform(-20, 20) * strength
    grey = im.mean(0, keepdim=True)
    im = grey + (im - grey) * u(0.5, 1.5)
    mu = im.mean()
    im = ((im - mu) * u(0.7, 1.3) + mu).clamp(0, 255)
    return 255 * (im / 255) ** u(0.7, 1.4)


def degrade(im, rng):
    """Sometimes blur (motion or defocus, a 3..7 box) and add sensor noise."""
    if rng.random() < 0.3:
        k = int(rng.choice([3, 5, 7]))
        kernel = torch.ones(3, 1, 1, k) / k if rng.random() < 0.5 else torch.ones(3, 1, k, k) / (k * k)
        pad = (kernel.shape[3] // 2, kernel.shape[3] // 2, kernel.shape[2] // 2, kernel.shape[2] // 2)
        im = F.conv2d(F.pad(im[None], pad, mode="replicate"), kernel, groups=3)[0]
    if rng.random() < 0.5:
        im = im + torch.randn_like(im) * rng.uniform(0, 8)
    return im.clamp(0, 255)


def sample_triplets(sources, rng, batch, crop, gap=0, zoom=(0.7, 1.5), rotate=10.0, jitter=0.15, on_object=0.7):
    """`batch` triplets (anchor, pool, pool) as images [3B, 3, h, w] float 0..255 and ids [3B, h, w] (255 = ignored:
    outside the frame or void). `sources`: [(weight, sequences)]; each triplet's video is drawn from a source by
    weight; a source of `Textures` makes layered videos on real texture instead (`layered_triplet`). The crop shows the frame at `zoom` input px per output px (1 = the native scale the engine runs at), per
    frame varied by +-`jitter` in scale and shift and by +-`rotate` degrees; with probability `on_object` it is
    centred on a random pixel of an object of the anchor frame, and each pool frame's on a random pixel of the same
    object there (wherever it moved), else anywhere."""
    weights = np.array([w for w, _ in sources], dtype=np.float64)
    xs, ids = [], []
    ch, cw = crop
    for _ in range(batch):
        seqs = sources[rng.choice(len(sources), p=weights / weights.sum())][1]
        if isinstance(seqs, Textures):
            frames, masks = layered_triplet(seqs.frames, rng, crop)
            shared = int(rng.integers(1 << 31))
            for im, m in zip(frames, masks):
                xs.append(degrade(recolour(recolour(im, np.random.default_rng(shared), 1.0), rng, 0.3), rng))
                ids.append(m)
            continue
        imgs, masks = seqs[rng.integers(len(seqs))]
        n, h, w = imgs.shape[:3]
        a = int(rng.integers(n))
        others = [i for i in range(n) if i != a and (gap <= 0 or abs(i - a) <= gap)] or [i for i in range(n) if i != a]
        frames = [a, *rng.choice(others, 2, replace=len(others) < 2)]
        f = min(rng.uniform(*zoom), h / ch, w / cw)
        mx, my = 1 - f * cw / w, 1 - f * ch / h  # the farthest the centre may go and keep the crop inside
        ys, xs_ = np.nonzero((masks[a] > 0) & (masks[a] != 255))
        follow = None  # the object the crops follow, frame by frame, as a tracker would
        if len(ys) and rng.random() < on_object:
            i = rng.integers(len(ys))
            follow = masks[a][ys[i], xs_[i]]
            point = (xs_[i] + 0.5, ys[i] + 0.5)
        else:
            point = ((rng.uniform(-mx, mx) + 1) * w / 2, (rng.uniform(-my, my) + 1) * h / 2)
        flip = rng.random() < 0.5
        shared = int(rng.integers(1 << 31))
        for k in frames:
            px, py = point
            if follow is not None and k != a:
                oy, ox = np.nonzero(masks[k] == follow)
                if len(oy):
                    j = rng.integers(len(oy))
                    px, py = ox[j] + 0.5, oy[j] + 0.5
            cx = np.clip(px / w * 2 - 1 + rng.uniform(-jitter, jitter) * f * cw / w, -mx, mx)
            cy = np.clip(py / h * 2 - 1 + rng.uniform(-jitter, jitter) * f * ch / h, -my, my)
            theta = crop_theta(f * (1 + rng.uniform(-jitter, jitter)), math.radians(rng.uniform(-rotate, rotate)),
                               cx, cy, crop, (h, w))
            image = torch.from_numpy(imgs[k]).permute(2, 0, 1).float()
            im, m = warp(image, torch.from_numpy(masks[k].astype(np.int64)), theta, crop)
            if flip:
                im, m = im.flip(2), m.flip(1)
            im = recolour(im, np.random.default_rng(shared), 1.0)
            im = degrade(recolour(im, rng, 0.3), rng)
            xs.append(im)
            ids.append(m)
    return torch.stack(xs), torch.stack(ids)


class Textures:
    """Real frames (CamVid train, DAVIS training videos) as textures for `layered_triplet`: float [3,H,W] each."""

    def __init__(self, folders, every=4):
        import flowmotion

        self.frames = flowmotion.load_pool(folders, every=every)

    def __len__(self):
        return len(self.frames)


def layered_triplet(textures, rng, crop, objects=(1, 5)):
    """Three frames of a made-up video on real texture, with exact object ids: a background and 1-5 objects
    (superellipses textured from other real frames, `flowmotion.layer_mask`), each layer moved by its own random
    homography per frame (the camera's, and the object's on top or its own). Unlimited real appearance for the
    triplet loss: the same texture patch is the same object in all three frames, however it moved or scaled.
    Returns images [3, 3, h, w] float 0..255 and ids [3, h, w] (0 the background, 1.. the objects)."""
    import flowmotion

    h, w = crop
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    pts = torch.stack([xs, ys], -1).float()
    layers = []  # (texture, A, b, mask or None, [backward homography per frame])
    for k in range(1 + int(rng.integers(objects[0], objects[1] + 1))):
        tex = textures[rng.integers(len(textures))]
        zoom = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        A, b = flowmotion.source_map(rng, h, w, tex.shape[1], tex.shape[2], zoom)
        mask = None if k == 0 else flowmotion.layer_mask(rng, w, h)
        while mask is not None and mask(pts).mean() > 0.5:  # an object, not a wall: redraw the half-planes and giants
            mask = flowmotion.layer_mask(rng, w, h)
        moves = [np.eye(3)]
        for _ in range(2):
            kind = flowmotion.motion_kind(rng)
            H = flowmotion.homography(rng, kind, w, h, 1.0, 0.3 if k == 0 else 0.15)
            moves.append(H @ layers[0][4][len(moves)] if k and rng.random() < 0.6 else H)
        layers.append((tex, A, b, mask, moves))
    images, ids = [], []
    for t in range(3):
        image, top = torch.zeros(3, h, w), torch.zeros(h, w, dtype=torch.long)
        for k, (tex, A, b, mask, moves) in enumerate(layers):
            at = flowmotion.apply_h(moves[t], pts)  # this frame's pixel -> the layer's own (canonical) point
            cover = torch.ones(h, w) if mask is None else mask(at)
            image = cover * flowmotion.sample(tex, A, b, at) + (1 - cover) * image
            top = torch.where(cover > 0.5, torch.full_like(top, k), top)
        images.append(image)
        ids.append(top)
    return torch.stack(images), torch.stack(ids)
