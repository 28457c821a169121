import numpy as np
import pytest

from core.errors import InputError
from core.skeleton import HUMAN
from core.suggest import jump_scores, kmeans, suggest_frames
from core.track import Track


def walking_track(t: int = 300, seed: int = 0) -> Track:
    """A person-sized figure moving smoothly across the frame, arms and legs swinging,
    confident everywhere."""
    rng = np.random.default_rng(seed)
    rest = np.zeros((HUMAN.num_keypoints, 3))
    for j, parent in enumerate(HUMAN.parents):  # parents come before their children
        rest[j] = HUMAN.rest_offsets[j] + (rest[parent] if parent >= 0 else 0.0)
    rest = rest[:, :2] * 200.0  # metres -> px
    rest -= rest.mean(0)
    time = np.arange(t)[:, None]
    swing = np.sin(time / 8.0)  # (T, 1)
    kp = np.repeat(rest[None], t, axis=0)
    for name in ("left_wrist", "right_ankle"):
        kp[:, HUMAN.index(name), 0] += 15 * swing[:, 0]
    for name in ("right_wrist", "left_ankle"):
        kp[:, HUMAN.index(name), 0] -= 15 * swing[:, 0]
    kp += np.array([200.0, 240.0]) + np.concatenate([time * 0.5, 0 * time], 1)[:, None]
    kp += rng.normal(0, 0.3, kp.shape)
    conf = np.clip(0.8 + rng.normal(0, 0.03, kp.shape[:2]), 0, 1)
    return Track(list(HUMAN.keypoints), kp, conf, fps=30, frame_size=(480, 640),
                 skeleton=HUMAN)


def injected() -> tuple[Track, dict[str, list[int]]]:
    track = walking_track()
    kp, conf, flips = track.keypoints.copy(), track.confidence.copy(), track.flip_suspect.copy()
    faults = {"flip": [40, 200], "jump": [120], "low": [250], "pose": [80]}
    flips[faults["flip"]] = True
    kp[120] += np.random.default_rng(1).normal(0, 40, kp[120].shape)  # a one-frame glitch
    conf[250] = 0.05
    head = kp[80, HUMAN.index("head_top")]
    for name in ("left_wrist", "right_wrist"):  # both arms straight up
        kp[80, HUMAN.index(name)] = head + np.array([0.0, -60.0])
    return Track(track.keypoint_names, kp, conf, flip_suspect=flips, fps=30,
                 frame_size=track.frame_size, skeleton=HUMAN), faults


def test_every_injected_fault_is_suggested_with_its_reason():
    track, faults = injected()
    got = suggest_frames(track, k=10)
    assert len(got) == 10 and len({s.frame for s in got}) == 10
    by_frame = {s.frame: s.reason for s in got}
    for f in faults["flip"]:
        assert "flip" in by_frame[f]
    assert "jumps from its neighbours" in by_frame[120]
    assert "low confidence (0.05)" in by_frame[250]
    assert "unusual pose" in by_frame[80]
    # the injected faults rank first, the picks keep apart
    assert {s.frame for s in got[:5]} == {f for v in faults.values() for f in v}
    frames = sorted(by_frame)
    assert min(np.diff(frames)) >= 3
    assert [s.score for s in got] == sorted((s.score for s in got), reverse=True)


def test_a_smooth_clean_track_flags_nothing_as_a_jump():
    track = walking_track()
    assert jump_scores(track.keypoints).max() < 0.05
    got = suggest_frames(track, k=5)
    assert not any("jumps" in s.reason for s in got)


def test_the_picks_are_not_copies_of_one_mistake():
    # ten frames with the same wrong wrist and one frame with another, milder mistake:
    # the other one is among four picks, although each copy scores higher
    track = walking_track(300)
    kp = track.keypoints.copy()
    same = list(range(10, 200, 20))
    kp[same, HUMAN.index("left_wrist")] += np.array([70.0, 0.0])
    kp[250, HUMAN.index("right_ankle")] += np.array([0.0, -20.0])
    t2 = Track(track.keypoint_names, kp, track.confidence, fps=30, skeleton=HUMAN)
    got = suggest_frames(t2, k=4)
    assert 250 in [s.frame for s in got]
    assert {s.frame for s in got} - {250} <= set(same)
    assert got[0].score > min(s.score for s in got if s.frame == 250)


def test_edited_frames_are_skipped_and_results_are_deterministic():
    track, _ = injected()
    edited = np.zeros(track.keypoints.shape[:2], bool)
    edited[40, 3] = True
    got = suggest_frames(track, k=10, edited=edited)
    assert 40 not in [s.frame for s in got]
    assert got == suggest_frames(track, k=10, edited=edited)


def test_short_videos_and_bad_arguments():
    track = walking_track(4)
    assert len(suggest_frames(track, k=10)) == 4  # no more frames than the video has
    with pytest.raises(InputError, match="must be positive"):
        suggest_frames(track, k=0)
    with pytest.raises(InputError, match="edited: expected"):
        suggest_frames(track, k=2, edited=np.zeros((3, 22), bool))


def test_kmeans_finds_separated_groups():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.1, (50, 2)) for c in (0.0, 5.0, 10.0)])
    labels, dist = kmeans(x, 3)
    assert len(set(labels[:50])) == len(set(labels[50:100])) == len(set(labels[100:])) == 1
    assert len(set(labels)) == 3 and dist.max() < 0.5
