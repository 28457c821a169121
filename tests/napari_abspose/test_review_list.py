"""Which frames the Review section lists, and how it says it chose them."""

import numpy as np

from napari_abspose.widgets.review_section import frames_to_review


def per_point(frame_conf, flips=(), joints=3):
    frames = np.repeat(np.arange(len(frame_conf)), joints)
    conf = np.repeat(np.asarray(frame_conf, float), joints)
    flip = np.isin(frames, flips)
    return frames, conf, flip


def test_a_model_under_the_threshold_everywhere_lists_only_its_worst_tenth():
    conf = np.linspace(0.10, 0.25, 40)  # every frame under 0.30
    conf[[7, 23, 31]] = [0.01, 0.02, 0.03]
    frames, c, flip = per_point(conf, flips=[12])
    listed, how = frames_to_review(frames, c, flip, threshold=0.3)
    low = [f for f, r in listed if "low confidence" in r]
    assert sorted(low) == [0, 7, 23, 31]  # 10 % of 40 frames, the least confident
    assert [f for f, r in listed if "flip?" in r] == [12]
    assert [f for f, _ in listed] == sorted(f for f, _ in listed)
    assert how == ("5 frames to review: 1 suspected flips and the 4 least confident frames "
                   "(of 40 with a mean confidence under 0.30; at most 10% of the video is "
                   "listed).")


def test_few_low_frames_are_all_listed_and_nothing_flagged_says_so():
    conf = np.full(20, 0.8)
    conf[5] = 0.2
    listed, how = frames_to_review(*per_point(conf), threshold=0.3)
    assert listed == [(5, "low confidence 0.20")]
    assert "1 frames with a mean confidence under 0.30" in how
    listed, how = frames_to_review(*per_point(np.full(20, 0.8)), threshold=0.3)
    assert listed == [] and how.startswith("Nothing flagged")
