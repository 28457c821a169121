"""The labelled-clip format: writing (both files or none), reading with its checks,
finding clips in a folder, and the contact sheet of clips."""

from pathlib import Path

import numpy as np
import pytest

import training.clips as clips
from core.errors import InputError
from core.skeleton import HUMAN
from training.clips import (
    FORMAT_VERSION,
    clip_sheet,
    find_clips,
    load_clip,
    read_labels,
    write_clip,
)

J = HUMAN.num_keypoints


def arrays(t: int = 5, size: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"frames": rng.integers(0, 255, (t, size, size, 3), dtype=np.uint8),
            "keypoint_names": np.array(HUMAN.keypoints),
            "keypoints_2d": rng.uniform(2, size - 2, (t, J, 2)).astype(np.float32),
            "visibility": rng.random((t, J)) > 0.3,
            "keypoints_3d": rng.normal(0, 0.3, (t, J, 3)).astype(np.float32),
            "activity": np.array(["walk"] * t), "fps": np.array(25.0),
            "frame_size": np.array((size, size)), "format_version": np.array(FORMAT_VERSION)}


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class TestWriteRead:
    def test_round_trip(self, tmp_path):
        a = arrays()
        video, labels = write_clip(tmp_path / "sub" / "S9_walk", a)
        assert (video.name, labels.name) == ("S9_walk.mp4", "S9_walk.npz")
        assert files(tmp_path / "sub") == ["S9_walk.mp4", "S9_walk.npz"]  # no temporary
        for path in (video, labels, tmp_path / "sub" / "S9_walk"):
            clip = load_clip(path)
            assert clip["frames"].shape == (5, 32, 32, 3) and clip["frames"].dtype == np.uint8
            np.testing.assert_array_equal(clip["keypoints_2d"], a["keypoints_2d"])
            assert "frames" not in read_labels(labels)
        assert "frames" not in load_clip(labels, frames=False)
        assert int(read_labels(labels)["format_version"]) == FORMAT_VERSION

    def test_only_the_arrays_asked_for_are_read(self, tmp_path):
        data = arrays()
        data["part_mask"] = np.zeros((5, 32, 32), np.int16)
        _, labels = write_clip(tmp_path / "a_walk", data)
        assert "part_mask" in read_labels(labels)
        some = read_labels(labels, keys=("visibility", "not_there"))
        assert set(some) == {"keypoint_names", "keypoints_2d", "visibility"}

    def test_an_error_while_writing_leaves_nothing(self, tmp_path, monkeypatch):
        old_video, old_labels = write_clip(tmp_path / "c", arrays(seed=1))
        before = old_video.read_bytes(), old_labels.read_bytes()
        written = []

        def fail_on_third(self, frame, _write=clips.VideoWriter.write):
            written.append(frame)
            if len(written) == 3:
                raise KeyboardInterrupt
            _write(self, frame)

        monkeypatch.setattr(clips.VideoWriter, "write", fail_on_third)
        for stem in ("c", "new"):
            written.clear()
            with pytest.raises(KeyboardInterrupt):
                write_clip(tmp_path / stem, arrays(seed=2))
        assert files(tmp_path) == ["c.mp4", "c.npz"]  # the old clip, nothing else
        assert (old_video.read_bytes(), old_labels.read_bytes()) == before

    def test_bad_arrays_are_refused_before_writing(self, tmp_path):
        a = arrays()
        with pytest.raises(InputError, match="keypoints_2d has 5 frames, the video 4"):
            write_clip(tmp_path / "a", {**a, "frames": a["frames"][:4]})
        with pytest.raises(InputError, match="uint8"):
            write_clip(tmp_path / "a", {**a, "frames": a["frames"] / 255.0})
        with pytest.raises(InputError, match="visibility has shape"):
            write_clip(tmp_path / "a", {**a, "visibility": a["visibility"][:, :3]})
        assert files(tmp_path) == []

    def test_a_missing_or_broken_video_is_one_clear_error(self, tmp_path):
        _, labels = write_clip(tmp_path / "a", arrays())
        (tmp_path / "a.mp4").unlink()
        with pytest.raises(InputError, match=r"a\.mp4: no such file"):
            load_clip(labels)
        (tmp_path / "a.mp4").write_bytes(b"not a video")
        with pytest.raises(InputError, match=r"a\.mp4: "):
            load_clip(labels)
        assert "frames" not in load_clip(labels, frames=False)  # the labels alone still read

    def test_label_errors_name_the_file_and_the_key(self, tmp_path):
        a = {k: v for k, v in arrays().items() if k != "frames"}
        np.savez(tmp_path / "a.npz", **{k: v for k, v in a.items() if k != "keypoint_names"})
        with pytest.raises(InputError, match=r"a\.npz: no 'keypoint_names' in the labels"):
            read_labels(tmp_path / "a.npz")
        np.savez(tmp_path / "b.npz", **{**a, "keypoints_3d": a["keypoints_3d"][:, :, :2]})
        with pytest.raises(InputError, match=r"b\.npz: keypoints_3d has shape"):
            read_labels(tmp_path / "b.npz")
        np.savez(tmp_path / "c.npz", **{**a, "activity": np.array(["walk"] * 2)})
        with pytest.raises(InputError, match=r"c\.npz: activity has shape"):
            read_labels(tmp_path / "c.npz")
        (tmp_path / "d.npz").write_text("not a zip")
        with pytest.raises(InputError, match=r"d\.npz: cannot read labels"):
            read_labels(tmp_path / "d.npz")
        with pytest.raises(InputError, match=r"e\.npz: no such labels file"):
            read_labels(tmp_path / "e.npz")


class TestFind:
    def test_pairs_of_video_and_labels(self, tmp_path):
        assert find_clips(tmp_path / "nope") == [] and find_clips(tmp_path) == []
        write_clip(tmp_path / "b", arrays())
        write_clip(tmp_path / "a", arrays())
        (tmp_path / "c.npz").write_bytes((tmp_path / "a.npz").read_bytes())  # no video
        (tmp_path / "d.avi").write_bytes(b"")
        (tmp_path / "d.npz").write_bytes(b"")
        assert find_clips(tmp_path) == [(tmp_path / "a.mp4", tmp_path / "a.npz"),
                                        (tmp_path / "b.mp4", tmp_path / "b.npz"),
                                        (tmp_path / "d.avi", tmp_path / "d.npz")]
        assert len(find_clips(tmp_path, extensions=(".mp4",))) == 2


class TestSheet:
    def test_one_clip_per_row_at_their_own_size(self):
        a, b = arrays(t=9), arrays(t=3, seed=1)
        frames = a["frames"].copy()
        sheet = clip_sheet([a, b], columns=4)
        assert sheet.shape == (2 * 32, 4 * 32, 3)
        np.testing.assert_array_equal(sheet[:32, :32], a["frames"][0])  # first frame
        np.testing.assert_array_equal(sheet[:32, 96:], a["frames"][8])  # last frame
        np.testing.assert_array_equal(sheet[32:, 32:64], b["frames"][1])
        dots = clip_sheet([a, b], columns=4, keypoints=True)
        assert (dots != sheet).any()
        np.testing.assert_array_equal(a["frames"], frames)  # drawn on copies

    def test_no_clips(self):
        with pytest.raises(InputError, match="no clips"):
            clip_sheet([])
