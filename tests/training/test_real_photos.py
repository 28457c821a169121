import json

import cv2
import numpy as np
import pytest

from core.errors import InputError
from core.skeleton import HUMAN
from training.evaluate import LIMBS, limb_errors
from training.real_photos import crop_transform, load_coco_people, person_crops

COCO17 = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
          "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
          "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]


def _write(tmp_path, data):
    path = tmp_path / "people.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def photo(tmp_path):
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = (255, 0, 0)  # a red square at the box centre (RGB)
    cv2.imwrite(str(tmp_path / "a.png"), image[..., ::-1])
    kp = [0.0] * 51
    kp[5 * 3:5 * 3 + 3] = [100.0, 50.0, 2]  # left shoulder at the box centre
    kp[6 * 3:6 * 3 + 3] = [120.0, 30.0, 1]
    return _write(tmp_path, {
        "images": [{"id": 7, "file_name": "a.png", "width": 200, "height": 100}],
        "categories": [{"id": 1, "keypoints": COCO17}],
        "annotations": [{"image_id": 7, "category_id": 1, "bbox": [80, 10, 40, 80],
                         "keypoints": kp, "source": "test"}]})


def test_coco_names_map_onto_ours_and_the_crop_is_centred(photo):
    people = load_coco_people(photo, HUMAN)
    assert len(people) == 1 and people[0].source == "test"
    p = people[0]
    assert p.labelled.sum() == 2 and p.labelled[HUMAN.index("left_shoulder")]
    crops, truth, _ = person_crops(people, size=64)
    assert crops.shape == (1, 64, 64, 3)
    # box centre -> crop centre; 1.25 x 80 px of photo over 64 px of crop
    assert np.allclose(truth[0, HUMAN.index("left_shoulder")], (31.5, 31.5))
    assert np.allclose(truth[0, HUMAN.index("right_shoulder")], (31.5 + 20 * 0.64,
                                                                  31.5 - 20 * 0.64))
    assert tuple(crops[0, 32, 32]) == (255, 0, 0) and tuple(crops[0, 2, 2]) == (0, 0, 0)
    assert crop_transform((0, 0, 10, 20), 20).scale == pytest.approx(1 / 0.8)


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("annotations"), "'annotations'"),
    (lambda d: d["annotations"][0].update(bbox=[0, 0, 0, 5]), "'bbox'"),
    (lambda d: d["annotations"][0].update(keypoints=[1, 2]), "'keypoints'"),
    (lambda d: d["annotations"][0].update(image_id=99), "'image_id'"),
])
def test_bad_files_name_the_file_and_the_field(photo, change, field):
    data = json.loads(photo.read_text())
    change(data)
    photo.write_text(json.dumps(data))
    with pytest.raises(InputError, match=field) as err:
        load_coco_people(photo, HUMAN)
    assert str(photo) in str(err.value)


def test_unreadable_json(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"x\.json"):
        load_coco_people(bad, HUMAN)


def test_limb_errors_by_hand():
    truth = np.zeros((2, HUMAN.num_keypoints, 2))
    for k, name in enumerate(LIMBS):
        truth[:, HUMAN.index(name)] = (10.0 * k, 0.0)
    labelled = np.zeros((2, HUMAN.num_keypoints), bool)
    labelled[:, [HUMAN.index(n) for n in LIMBS]] = True
    pred = truth.copy()
    pred[0, HUMAN.index("left_wrist")] += (3.0, 4.0)  # 5 px off
    swap = list(range(HUMAN.num_keypoints))
    for a, b in HUMAN.left_right:
        swap[a], swap[b] = b, a
    pred[1] = truth[1][swap]  # person 2 mirrored: each point 10 px off
    out = limb_errors(pred, truth, labelled, HUMAN)
    assert out["points"] == 24 and out["people"] == 2
    assert out["px"] == pytest.approx((5.0 + 12 * 10.0) / 24)
    assert out["px_ignore_flips"] == pytest.approx(5.0 / 24)
    assert out["flipped_people"] == 0.5
    assert out["pck@6.4"] == pytest.approx(12 / 24)
    assert out["pck@6.4_ignore_flips"] == 1.0
