"""Image sets for Harlow's task (Exp 6): procedural, or a user's folder.

The paper draws its images from ImageNet (1000 for training, a separate 1000
held out for testing). No photo set can be downloaded where this project is
built and tested, so `procedural(split)` draws a seeded set instead; a user's
own images (e.g. an ImageNet subset, photos) load with `from_folder`.

Procedural images (34x34 RGB by default). Image `i` of a split is a function of
`(seed, split, i)` only, so sets of any size agree on their common prefix, and
the 'train' and 'test' splits never share an image. Each image is:

  background  two random colours in one of five textures: flat, stripes
              (random angle and period 4-12 px), checkerboard (period 4-10 px),
              concentric rings about a random centre, smooth blobs (a sum of
              random low-frequency waves);
  shapes      1 to 3 filled shapes of random colour (disc, square, triangle,
              ring, cross, diamond), 8-22 px across, at random places.

How distinct (`distinctness`: mean absolute pixel difference, 0-255, to the
nearest other image): measured on the default sets (seed 0), 500 training
images against each other have nearest neighbours at 13.6 at least (5th
percentile 21.6, median 37.9); 500 held-out images against all 1000 training
images at 11.8 at least (5th percentile 22.2, median 37.7). For scale, two
images that differ only in one 10x10 shape of another colour are ~10-20
apart. tests/test_harlow.py checks a lower bound. Colours are drawn in HSV with
saturation >= 0.35 so that most images are colourful, as photos are.
"""

import os
from typing import Optional, Sequence

import numpy as np

IMAGE_SIZE = 34
SPLITS = ('train', 'test')
EXTENSIONS = ('.png', '.jpg', '.jpeg', '.gif', '.bmp')
_SPLIT_SALT = {'train': 0x7472, 'test': 0x7465}


def _hsv_to_rgb(h, s, v):
  """Vectorised HSV in [0, 1] -> RGB in [0, 1] (arrays of any shape)."""
  i = np.floor(h * 6.0).astype(int) % 6
  f = h * 6.0 - np.floor(h * 6.0)
  p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
  table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
  rgb = np.zeros(np.shape(h) + (3,))
  for k, (r, g, b) in enumerate(table):
    mask = i == k
    rgb[mask] = np.stack([np.broadcast_to(r, np.shape(h))[mask],
                          np.broadcast_to(g, np.shape(h))[mask],
                          np.broadcast_to(b, np.shape(h))[mask]], -1)
  return rgb


def _colour(rng):
  return _hsv_to_rgb(np.array(rng.uniform()), np.array(rng.uniform(0.35, 1.0)),
                     np.array(rng.uniform(0.3, 1.0)))


def _background(rng, y, x, size):
  """Texture weights in [0, 1] [size, size] mixing two colours."""
  kind = rng.integers(5)
  if kind == 0:  # flat
    return np.zeros((size, size))
  if kind == 1:  # stripes
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(4, 12)
    u = x * np.cos(angle) + y * np.sin(angle)
    return (np.sin(2 * np.pi * u / period + rng.uniform(0, 6.3)) > 0) * 1.0
  if kind == 2:  # checkerboard
    period = rng.integers(4, 11)
    return ((x // period + y // period) % 2) * 1.0
  if kind == 3:  # rings
    cy, cx = rng.uniform(0, size, 2)
    period = rng.uniform(4, 10)
    return (np.sin(2 * np.pi * np.hypot(y - cy, x - cx) / period) > 0) * 1.0
  waves = sum(np.sin(2 * np.pi * (x * fx + y * fy) / size + ph)
              for fx, fy, ph in zip(rng.uniform(-2, 2, 3), rng.uniform(-2, 2, 3),
                                    rng.uniform(0, 6.3, 3)))
  return 1 / (1 + np.exp(-2 * waves))  # smooth blobs


def _shape_mask(rng, y, x, size):
  kind = rng.integers(6)
  cy, cx = rng.uniform(6, size - 6, 2)
  r = rng.uniform(4, 11)
  dy, dx = y - cy, x - cx
  if kind == 0:  # disc
    return np.hypot(dy, dx) <= r
  if kind == 1:  # square
    return np.maximum(abs(dy), abs(dx)) <= r * 0.8
  if kind == 2:  # triangle (pointing up)
    return (dy <= r * 0.7) & (dy >= -r) & (abs(dx) <= (dy + r) * 0.6)
  if kind == 3:  # ring
    d = np.hypot(dy, dx)
    return (d <= r) & (d >= r * 0.55)
  if kind == 4:  # cross
    w = r * 0.35
    return ((abs(dy) <= w) & (abs(dx) <= r)) | ((abs(dx) <= w) & (abs(dy) <= r))
  return abs(dy) + abs(dx) <= r  # diamond


def procedural_image(seed: int, split: str, index: int,
                     size: int = IMAGE_SIZE) -> np.ndarray:
  """Image `index` of a procedural split: uint8 [size, size, 3]."""
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
  rng = np.random.default_rng([int(seed), _SPLIT_SALT[split], int(index)])
  y, x = np.mgrid[0:size, 0:size].astype(np.float64)
  scale = size / IMAGE_SIZE
  y, x = y / scale, x / scale  # textures and shapes in 34-px units
  w = _background(rng, y, x, IMAGE_SIZE)[..., None]
  image = (1 - w) * _colour(rng) + w * _colour(rng)
  for _ in range(rng.integers(1, 4)):
    mask = _shape_mask(rng, y, x, IMAGE_SIZE)[..., None]
    image = np.where(mask, _colour(rng), image)
  return np.round(image * 255).astype(np.uint8)


def procedural(split: str, num_images: int = 1000, seed: int = 0,
               size: int = IMAGE_SIZE) -> np.ndarray:
  """A procedural image set: uint8 [num_images, size, size, 3]."""
  if num_images < 2:
    raise ValueError(f'an image set needs >= 2 images, got {num_images}')
  return np.stack([procedural_image(seed, split, i, size)
                   for i in range(num_images)])


def from_folder(directory: str, size: int = IMAGE_SIZE,
                max_images: Optional[int] = None) -> np.ndarray:
  """The images of a folder (PNG, JPEG, GIF, BMP; any size; sorted by name),
  resized to size x size RGB: uint8 [N, size, size, 3].

  Raises ValueError if the folder is missing, holds fewer than 2 images, or
  an image cannot be decoded (naming the file).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(directory):
    raise ValueError(f'image folder {directory} does not exist')
  names = sorted(n for n in os.listdir(directory)
                 if n.lower().endswith(EXTENSIONS))
  if max_images is not None:
    names = names[:max_images]
  if len(names) < 2:
    raise ValueError(f'image folder {directory} holds {len(names)} images '
                     f'({"/".join(EXTENSIONS)}); at least 2 are needed')
  images = []
  for name in names:
    path = os.path.join(directory, name)
    try:
      with open(path, 'rb') as f:
        data = f.read()
      image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, OSError) as e:
      raise ValueError(f'cannot read image {path}: '
                       f'{str(e).splitlines()[0] if str(e) else type(e).__name__}'
                       ) from e
    image = tf.image.resize(tf.cast(image, tf.float32), [size, size],
                            method='area', antialias=True)
    images.append(np.clip(np.round(image.numpy()), 0, 255).astype(np.uint8))
  return np.stack(images)


def load(split: str, image_dir: Optional[str] = None, num_images: int = 1000,
         seed: int = 0, size: int = IMAGE_SIZE) -> np.ndarray:
  """The images of a split: `image_dir/<split>/` if `image_dir` is given
  (at most `num_images` of them), else the procedural set."""
  if image_dir:
    return from_folder(os.path.join(image_dir, split), size, num_images)
  return procedural(split, num_images, seed, size)


def distinctness(images: np.ndarray, others: Optional[np.ndarray] = None
                 ) -> np.ndarray:
  """For each image, the mean absolute pixel difference (0-255) to its
  nearest other image in `images` (or in `others`, if given): [N]."""
  a = images.reshape(len(images), -1).astype(np.float32)
  b = a if others is None else others.reshape(len(others), -1).astype(np.float32)
  nearest = np.full(len(a), np.inf, np.float32)
  for start in range(0, len(a), 256):  # L1 distances in blocks
    d = np.abs(a[start:start + 256, None, :] - b[None, :, :]).mean(-1)
    if others is None:
      idx = np.arange(start, min(start + 256, len(a)))
      d[idx - start, idx] = np.inf
    nearest[start:start + 256] = d.min(1)
  return nearest


__all__: Sequence[str] = ['IMAGE_SIZE', 'procedural', 'procedural_image',
                          'from_folder', 'load', 'distinctness']
