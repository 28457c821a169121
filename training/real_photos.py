"""Labelled photos of real people in COCO keypoints format (what COCO, CVAT and Label
Studio write), cut into one square crop per annotated person, and the errors of
predicted keypoints on them.

    people = load_coco_people("person_keypoints.json", skeleton)   # PhotoPerson list
    crops, truth, visible = person_crops(people, size=128)          # (N, 128, 128, 3) ...
    scores = limb_errors(pred_px, truth, visible, skeleton)   # training.evaluate

Keypoints are mapped by name: a category's keypoint names may be ours (HUMAN) or the
COCO-17 names (which are ours too). A crop is a square of ``scale`` x the longer side of
the person's box, centred on the box, resampled to ``size`` x ``size`` by
``core.crop`` (area-averaged, as every model input is; outside the photo is black).
Their errors are ``training.evaluate.limb_errors``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.crop import CropTransform, crop_frame
from core.errors import InputError
from core.skeleton import Skeleton
from core.video import read_image


@dataclass
class PhotoPerson:
    """One annotated person: ``image`` path, ``bbox`` (x, y, w, h) pixels, ``keypoints``
    (J, 2) pixels of the skeleton's keypoints, ``labelled`` (J,) bool, ``source``."""

    image: Path
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray
    labelled: np.ndarray
    source: str


def load_coco_people(path: str | Path, skeleton: Skeleton) -> list[PhotoPerson]:
    """Every annotated person of a COCO keypoints JSON; images relative to its folder."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable COCO keypoints JSON ({err})") from err
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise InputError(f"{path}: missing the list '{key}'")
    names = {c.get("id"): c.get("keypoints") for c in data["categories"]}
    images = {im.get("id"): im for im in data["images"]}
    people = []
    for k, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{k}]"
        kp_names = names.get(ann.get("category_id"))
        if not kp_names:
            raise InputError(f"{where}: its category has no 'keypoints' names")
        image = images.get(ann.get("image_id"))
        if image is None or "file_name" not in image:
            raise InputError(f"{where}: 'image_id' names no image with a 'file_name'")
        raw = np.asarray(ann.get("keypoints", []), dtype=float)
        if raw.size != 3 * len(kp_names):
            raise InputError(f"{where}: 'keypoints' has {raw.size} values, expected "
                             f"3 x {len(kp_names)}")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and bbox[2] > 0 and bbox[3] > 0):
            raise InputError(f"{where}: 'bbox' must be [x, y, w, h] with w, h > 0")
        raw = raw.reshape(-1, 3)
        kp = np.zeros((skeleton.num_keypoints, 2))
        labelled = np.zeros(skeleton.num_keypoints, dtype=bool)
        for name, (x, y, v) in zip(kp_names, raw, strict=True):
            if name in skeleton.keypoints and v > 0:
                kp[skeleton.index(name)] = (x, y)
                labelled[skeleton.index(name)] = True
        people.append(PhotoPerson(path.parent / image["file_name"], tuple(map(float, bbox)),
                                  kp, labelled, str(ann.get("source", image.get("source", "")))))
    return people


def crop_transform(bbox, size: int, scale: float = 1.25) -> CropTransform:
    """The map between the crop's pixels and the photo's: a square of ``scale`` x the
    box's longer side, centred on the box, ``size`` pixels wide."""
    x, y, w, h = bbox
    s = scale * max(w, h) / size  # photo pixels per crop pixel
    c = (size - 1) / 2.0
    return CropTransform(s, (x + w / 2 - s * c, y + h / 2 - s * c), (size, size))


def person_crops(people: list[PhotoPerson], size: int = 128, scale: float = 1.25):
    """(N, size, size, 3) uint8 RGB crops, (N, J, 2) keypoints in crop pixels, (N, J)
    labelled."""
    crops, truth = [], []
    cache: dict[Path, np.ndarray] = {}
    for p in people:
        if p.image not in cache:
            cache[p.image] = read_image(p.image)
        t = crop_transform(p.bbox, size, scale)
        crops.append(crop_frame(cache[p.image], t))
        truth.append(t.to_input(p.keypoints))
    return np.stack(crops), np.stack(truth), np.stack([p.labelled for p in people])
