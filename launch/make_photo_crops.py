"""Writes a folder of natural-image crops for Harlow's --image_dir.

  python launch/make_photo_crops.py --output_dir=runs/photo_crops [--num_images=1000]

No photo set can be downloaded where this project is built, so this makes a
second image family, unlike the procedural one, from what matplotlib ships:
random square crops (24-160 px, resized to 34x34 later by the loader) of its
sample photographs (grace_hopper.jpg, Minduka_Present_Blue_Pack.png) and of its
two elevation maps rendered with random colormaps and hill shading
(jacksboro_fault_dem.npz, topobathy.npz), with random flips. Writes
OUTPUT_DIR/train/ and OUTPUT_DIR/test/ (--num_images PNGs each, from disjoint
seeds; crops may overlap in content). Use it to test an agent trained on
procedural images on natural images: launch/exp6_harlow.py --image_dir=...
"""

import os

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_string('output_dir', None, 'Folder to create.')
flags.DEFINE_integer('num_images', 1000, 'Images per split.')
flags.DEFINE_integer('seed', 0, 'Seed of the crops.')
FLAGS = flags.FLAGS


def _sources():
  import matplotlib  # pylint: disable=g-import-not-at-top
  from matplotlib import cbook, colors  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  photos = []
  for name in ('grace_hopper.jpg', 'Minduka_Present_Blue_Pack.png'):
    with cbook.get_sample_data(name) as f:
      photos.append(np.asarray(Image.open(f).convert('RGB')))
  maps = []
  for name, key in (('jacksboro_fault_dem.npz', 'elevation'),
                    ('topobathy.npz', 'topo')):
    data = cbook.get_sample_data(name)  # an NpzFile
    maps.append(np.asarray(data[key], np.float64))
  return photos, maps, matplotlib.colormaps, colors.LightSource


def _crop(rng, photos, maps, colormaps, light_source):
  import numpy as np  # pylint: disable=g-import-not-at-top
  if rng.random() < 0.6:
    image = photos[rng.integers(len(photos))]
  else:
    dem = maps[rng.integers(len(maps))]
    cmap = colormaps[rng.choice(['terrain', 'gist_earth', 'viridis', 'magma',
                                 'cubehelix', 'ocean', 'copper', 'twilight'])]
    shade = light_source(azdeg=rng.uniform(0, 360), altdeg=rng.uniform(20, 60))
    image = (shade.shade(dem, cmap=cmap, blend_mode='soft')[..., :3] *
             255).astype(np.uint8)
  h, w = image.shape[:2]
  size = int(rng.integers(24, min(160, h, w) + 1))
  y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
  crop = image[y:y + size, x:x + size]
  if rng.random() < 0.5:
    crop = crop[:, ::-1]
  return np.ascontiguousarray(crop)


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  if not FLAGS.output_dir:
    common.fail('--output_dir is required')
  if os.path.exists(FLAGS.output_dir):
    common.fail(f'{FLAGS.output_dir} exists')
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  sources = _sources()
  for i, split in enumerate(('train', 'test')):
    folder = os.path.join(FLAGS.output_dir, split)
    os.makedirs(folder)
    rng = np.random.default_rng([FLAGS.seed, i])
    for n in range(FLAGS.num_images):
      Image.fromarray(_crop(rng, *sources)).save(
          os.path.join(folder, f'{split}_{n:04d}.png'))
  print(f'wrote {FLAGS.num_images} images to each of '
        f'{FLAGS.output_dir}/train and {FLAGS.output_dir}/test')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
