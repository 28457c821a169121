from pathlib import Path

import cv2
import numpy as np
import pytest

import core.video as video
from core.errors import InputError, ShapeError
from core.video import VideoReader, VideoWriter, batched, is_video_file, list_videos, write_video


def ramp_frames(n, size=(48, 64)):
    """Frames whose grey level encodes the frame index (robust to lossy codecs)."""
    h, w = size
    return [np.full((h, w, 3), 10 + 8 * (i % 30), dtype=np.uint8) for i in range(n)]


def level(frame):
    return (float(frame.mean()) - 10) / 8


@pytest.fixture
def clip(tmp_path):
    return write_video(tmp_path / "clip.mp4", ramp_frames(12), fps=25)


class TestReader:
    def test_reads_size_fps_count_and_frames(self, clip):
        reader = VideoReader(clip)
        assert reader.size == (48, 64) and reader.fps == pytest.approx(25)
        assert reader.stated_frame_count == 12
        frames = list(reader)
        assert len(frames) == 12 and reader.frame_count == 12
        assert frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
        assert [round(level(f)) for f in frames] == list(range(12))

    def test_frames_are_rgb(self, tmp_path):
        red = np.zeros((32, 32, 3), np.uint8)
        red[..., 0] = 220
        path = write_video(tmp_path / "red.avi", [red] * 2)
        frame = next(iter(VideoReader(path)))
        assert frame[..., 0].mean() > 180 and frame[..., 2].mean() < 40

    def test_batches(self, clip):
        got = [(start, b.shape) for start, b in VideoReader(clip).batches(5)]
        assert got == [(0, (5, 48, 64, 3)), (5, (5, 48, 64, 3)), (10, (2, 48, 64, 3))]

    def test_read_one_frame(self, clip):
        reader = VideoReader(clip)
        assert round(level(reader.read(7))) == 7
        with pytest.raises(InputError, match="no frame 12"):
            reader.read(12)

    def test_some_frames_in_one_pass(self, clip, tmp_path):
        got = video.frames_at(clip, [9, 2, 2, 11])
        assert sorted(got) == [2, 9, 11]
        assert {i: round(level(f)) for i, f in got.items()} == {2: 2, 9: 9, 11: 11}
        with pytest.raises(InputError, match="no frame 12 \\(the video has 12\\)"):
            video.frames_at(clip, [3, 12])
        folder = tmp_path / "seq"
        folder.mkdir()
        for i, f in enumerate(ramp_frames(4)):
            cv2.imwrite(str(folder / f"{i:03d}.png"), f)
        assert round(level(video.frames_at(folder, [3])[3])) == 3
        with pytest.raises(InputError, match="no frame 4 \\(4 images\\)"):
            video.frames_at(folder, [4])
        assert video.frames_at(clip, []) == {}

    def test_stated_count_too_high(self, tmp_path):
        # an MJPG AVI cut in half still states the full count in its header
        full = write_video(tmp_path / "full.avi", ramp_frames(40))
        data = full.read_bytes()
        cut = tmp_path / "cut.avi"
        cut.write_bytes(data[: len(data) // 2])
        reader = VideoReader(cut)
        assert reader.stated_frame_count == 40
        n = sum(1 for _ in reader)
        assert 5 < n < 40 and reader.frame_count == n and reader.count_frames() == n

    def test_stated_count_too_low_or_missing(self, clip, monkeypatch):
        real = video._open_capture

        class Liar:
            def __init__(self, path, count):
                self.cap, self.count = real(path), count

            def get(self, prop):
                return self.count if prop == cv2.CAP_PROP_FRAME_COUNT else self.cap.get(prop)

            def __getattr__(self, name):
                return getattr(self.cap, name)

        for count in (3.0, 0.0, -1.0, -9.2e18):
            monkeypatch.setattr(video, "_open_capture", lambda p, c=count: Liar(p, c))
            if count == 0.0:  # a stated zero with frames present is still read
                reader = VideoReader(clip)
                assert reader.stated_frame_count is None
            reader = VideoReader(clip)
            assert reader.stated_frame_count == (3 if count == 3.0 else None)
            assert len(list(reader)) == 12 and reader.frame_count == 12

    def test_missing_file(self, tmp_path):
        with pytest.raises(InputError, match="no such file"):
            VideoReader(tmp_path / "nope.mp4")

    def test_not_a_video(self, tmp_path):
        path = tmp_path / "notes.mp4"
        path.write_text("this is text, not a video\n")
        with pytest.raises(InputError, match="not a video"):
            VideoReader(path)

    def test_corrupt(self, tmp_path, clip):
        path = tmp_path / "corrupt.mp4"
        path.write_bytes(clip.read_bytes()[: 600])
        with pytest.raises(InputError, match=str(path.name)):
            VideoReader(path)

    def test_zero_frames(self, tmp_path):
        path = tmp_path / "empty.avi"
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (32, 32))
        w.release()
        with pytest.raises(InputError, match=r"zero frames|no frame"):
            VideoReader(path)

    def test_folder_is_not_a_video(self, tmp_path):
        with pytest.raises(InputError, match="folder"):
            VideoReader(tmp_path)


class TestWriter:
    def test_round_trip_and_atomic(self, tmp_path):
        path = tmp_path / "out.mp4"
        with VideoWriter(path, fps=10) as w:
            for f in ramp_frames(5):
                w.write(f)
            assert not path.exists()  # appears only on close
        assert VideoReader(path).fps == pytest.approx(10)
        assert len(list(VideoReader(path))) == 5

    def test_file_mode_is_the_usual_one(self, tmp_path):
        import os
        import stat

        mask = os.umask(0o022)
        try:
            plain = tmp_path / "plain.txt"
            plain.write_text("x")
            path = write_video(tmp_path / "out.mp4", ramp_frames(2))
            assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
        finally:
            os.umask(mask)

    def test_error_keeps_previous_file_and_no_temp(self, tmp_path):
        path = write_video(tmp_path / "out.mp4", ramp_frames(3))
        before = path.read_bytes()
        with pytest.raises(RuntimeError), VideoWriter(path, fps=10) as w:
            w.write(ramp_frames(1)[0])
            raise RuntimeError("interrupted")
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]

    def test_bad_frames(self, tmp_path):
        w = VideoWriter(tmp_path / "x.mp4", fps=10)
        with pytest.raises(ShapeError):
            w.write(np.zeros((8, 8), np.uint8))
        w.write(np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(ShapeError):
            w.write(np.zeros((9, 8, 3), np.uint8))
        w.close()


def test_batched_validates():
    with pytest.raises(InputError):
        list(batched(iter([]), 0))


def test_list_videos(tmp_path):
    for name in ("b.mp4", "a.AVI", "notes.txt", ".hidden.mp4"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.mp4").mkdir()
    assert [p.name for p in list_videos(tmp_path)] == ["a.AVI", "b.mp4"]
    assert is_video_file(Path("x.MOV")) and not is_video_file("x.png")


REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "dance_part1.mp4"


@pytest.mark.skipif(not REAL.is_file(), reason="development data not available")
def test_real_phone_video():
    reader = VideoReader(REAL)
    assert reader.size == (720, 406) and reader.fps == pytest.approx(30)
    first = next(reader.batches(8))[1]
    assert first.shape == (8, 720, 406, 3) and first.std() > 10
    assert reader.count_frames() == 225
