import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import core.video as video
from core.errors import InputError, ShapeError
from core.video import (
    READ_AHEAD,
    LazyVideo,
    VideoReader,
    VideoWriter,
    batched,
    is_video_file,
    list_videos,
    write_video,
)


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


# -- LazyVideo --------------------------------------------------------------------------
def numbered_frames(n, size=(40, 100)):
    """Frame i shows i in binary as ten black/white bars (survives lossy coding)."""
    h, w = size
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        for b in range(10):
            if (i >> b) & 1:
                f[:, b * 10:(b + 1) * 10] = 255
        out.append(f)
    return out


def number(frame):
    return sum(1 << b for b in range(10) if frame[:, b * 10 + 5].mean() > 127)


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("v") / "numbered.mp4", numbered_frames(150), 30)


class TestLazyVideo:
    def test_array_like(self, numbered):
        v = LazyVideo(numbered)
        assert v.shape == (150, 40, 100, 3) and v.dtype == np.uint8 and v.ndim == 4
        assert len(v) == 150 and v.fps == pytest.approx(30)
        assert v[3].shape == (40, 100, 3) and v[3].dtype == np.uint8

    def test_random_access_is_exact(self, numbered):
        v = LazyVideo(numbered, cache_size=4)
        order = np.random.default_rng(0).permutation(150)[:60]
        assert [number(v[int(i)]) for i in order] == order.tolist()
        assert v.stats["seeks"] > 0  # far jumps seek rather than decode from the start

    def test_playback_reads_on_without_seeking(self, numbered):
        v = LazyVideo(numbered)
        assert [number(v[i]) for i in range(40)] == list(range(40))
        assert v.stats["seeks"] == 0 and v.stats["sequential"] == 40
        v[40 + READ_AHEAD // 2]  # a short jump ahead grabs forward
        assert v.stats["grabbed"] == 1 and v.stats["seeks"] == 0

    def test_numpy_indexing(self, numbered):
        v = LazyVideo(numbered)
        assert number(v[-1]) == 149
        assert [number(f) for f in v[10:13]] == [10, 11, 12]
        assert [number(f) for f in v[[5, 2]]] == [5, 2]
        assert v[7, :5, 10:20, 0].shape == (5, 10)
        assert v[2:4, ::2].shape == (2, 20, 100, 3)
        assert v[..., 0].shape == (150, 40, 100)
        assert v[5:5].shape == (0, 40, 100, 3)
        with pytest.raises(IndexError):
            v[150]

    def test_cache_serves_repeats(self, numbered):
        v = LazyVideo(numbered, cache_size=3)
        v[50], v[50], v[51]
        assert v.stats["cached"] == 1

    def test_frames_match_a_full_decode(self, numbered):
        v = LazyVideo(numbered)
        frames = list(VideoReader(numbered))
        for i in (0, 77, 3, 149, 76):
            assert np.array_equal(v[i], frames[i])

    def test_stated_count_too_high_gives_black_not_a_crash(self, numbered, caplog):
        v = LazyVideo(numbered, frame_count=160)
        assert v.shape[0] == 160
        assert not v[155].any()
        assert "could not be decoded" in caplog.text
        assert number(v[20]) == 20  # still usable

    def test_not_a_video(self, tmp_path):
        bad = tmp_path / "bad.mp4"
        bad.write_bytes(b"not a video at all")
        with pytest.raises(InputError):
            LazyVideo(bad)

    def test_threads_get_the_right_frames(self, numbered):
        v = LazyVideo(numbered, cache_size=2)
        errors = []

        def read(offset):
            for i in range(offset, 150, 7):
                if number(v[i]) != i:
                    errors.append(i)

        threads = [threading.Thread(target=read, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    @pytest.mark.skipif(not REAL.is_file(), reason="development clip not present")
    def test_real_phone_video_random_access(self):
        v = LazyVideo(REAL, cache_size=2)
        frames = list(VideoReader(REAL))
        assert v.shape[0] == len(frames)
        for i in np.random.default_rng(1).integers(0, len(frames), 8):
            assert np.array_equal(v[int(i)], frames[int(i)])
