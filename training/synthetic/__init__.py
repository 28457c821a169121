"""Synthetic people and animals, rendered on the fly in torch: the training data of
pretraining and the synthetic supervision, and a fixed ``target`` domain that stands in
for labelled real footage.

    stream = SyntheticStream("randomized", HUMAN, batch_size=64, size=(128, 128), seed=0)
    batch = stream.next()            # SyntheticBatch: images, partners, labels

Two styles (:data:`STYLES`): ``randomized`` draws everything at random per sample (body
shape, clothing textures, colours, lighting, background, camera, crop size and offset,
occluders, blur, noise, colour jitter); ``target`` has a distinct look (other clothes,
long hair and skirts, warm light, a few fixed rooms, a tracked camera) with fixed
identities (:data:`~training.synthetic.target.TARGET_SUBJECTS`, ``target.py``).

Camera: the project's :class:`~core.camera.PerspectiveCamera` (62 degrees by default),
OpenCV frame; ``keypoints_3d`` projected with ``intrinsics`` gives ``keypoints_px``.

The package, from the bottom up (each module imports only those above it in this list):

* ``style.py`` (:class:`StyleConfig`, the named styles), ``camera.py`` (where the camera
  stands), ``batch.py`` (:class:`SyntheticBatch`, :class:`RenderOutput`);
* bodies: ``body.py`` (capsule bodies: parts, regions), ``mesh_fit.py``,
  ``mesh_assets.py`` and ``mesh.py`` (anny mesh people posed by the HUMAN skeleton);
* appearance: ``textures.py`` (clothing, skin, light), ``background.py``, ``post.py``
  (blur, colour jitter, noise);
* drawing: ``raster_capsules.py`` and ``raster_mesh.py`` (depth-tested rasterizers),
  ``render_capsules.py`` and ``render_mesh.py`` (a posed body to an image and labels);
* ``sampling.py`` (how one batch of a style is drawn), ``target.py`` (the ``target``
  domain's cast, rooms and cameras), ``stream.py`` (:class:`SyntheticStream`),
  ``video.py`` (continuous clips of one subject, ``abspose synth``).
"""

from training.synthetic.batch import RenderOutput, SyntheticBatch
from training.synthetic.camera import CameraPose, camera_rotation, frame_subject
from training.synthetic.render_capsules import render
from training.synthetic.stream import SyntheticStream
from training.synthetic.style import STYLES, StyleConfig, style_config

__all__ = ["STYLES", "CameraPose", "RenderOutput", "StyleConfig", "SyntheticBatch",
           "SyntheticStream", "camera_rotation", "frame_subject", "render", "style_config"]
