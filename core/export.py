"""Keypoint exports in the formats people use, each with a reader for round trips.

=========  ===========================  ==================================================
name       file                         contents
=========  ===========================  ==================================================
``csv``    ``<stem>_keypoints.csv``     tidy: frame, keypoint, x, y, confidence, x3d, y3d,
                                        z3d, flip_suspect (one row per frame and keypoint)
``dlc``    ``<stem>_dlc.csv``           DeepLabCut: header rows scorer / bodyparts /
                                        coords (x, y, likelihood), one row per frame
``coco``   ``<stem>_coco.json``         COCO keypoints: images, annotations (x, y, v
                                        triplets), a category with names and skeleton
``npz``    ``<stem>_3d.npz``            arrays: keypoints_3d, keypoints_2d, confidence,
                                        keypoint_names, intrinsics, fps, ...
``csv3d``  ``<stem>_3d.csv``            tidy 3D: frame, keypoint, x, y, z (metres),
                                        confidence
=========  ===========================  ==================================================

2D coordinates are pixels of the original frames with pixel centres at integers (the
convention of COCO's keypoint annotations and of DeepLabCut). 3D coordinates are metres
in the camera frame (OpenCV axes) of the intrinsics stored in the npz. Missing values
are empty cells in CSV. Every write is atomic (temporary file, then rename). Only numpy
is needed; ``pandas.read_csv(path, header=[0, 1, 2], index_col=0)`` reads the DeepLabCut
file as DeepLabCut and ``movement`` do.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from core._version import __version__
from core.errors import InputError
from core.io import atomic_open, atomic_write_text
from core.track import Track

FORMATS: dict[str, str] = {
    "csv": "_keypoints.csv",
    "dlc": "_dlc.csv",
    "coco": "_coco.json",
    "npz": "_3d.npz",
    "csv3d": "_3d.csv",
}


def _fmt(values: np.ndarray, digits: int) -> list[str]:
    """Numbers as strings with ``digits`` decimals; NaN as the empty string."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    text = np.char.mod(f"%.{digits}f", np.nan_to_num(values))
    return np.where(np.isfinite(values), text, "").tolist()


def _float(cell: str) -> float:
    return float(cell) if cell.strip() not in ("", "nan", "NaN") else float("nan")


def _write_rows(path: str | Path, header: Sequence[str] | None, columns: Iterable[list]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(zip(*columns, strict=True))
    return atomic_write_text(path, buf.getvalue())


def _read_rows(path: str | Path) -> list[list[str]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with open(path, newline="", encoding="utf-8") as fh:
        return [row for row in csv.reader(fh) if row]


def _tidy_grid(rows: list[list[str]], header: list[str], path: Path, coords: Sequence[str]):
    """Tidy rows -> names, frames count, {column: (T, J) array}."""
    col = {name: i for i, name in enumerate(header)}
    missing = [c for c in ("frame", "keypoint", *coords) if c not in col]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}")
    names = list(dict.fromkeys(r[col["keypoint"]] for r in rows))
    index = {k: j for j, k in enumerate(names)}
    try:
        frames = np.array([int(r[col["frame"]]) for r in rows], dtype=np.int64)
    except ValueError as err:
        raise InputError(f"{path}: frame numbers must be integers ({err})") from None
    t = int(frames.max()) + 1 if len(frames) else 0
    kj = np.array([index[r[col["keypoint"]]] for r in rows], dtype=np.int64)
    grids = {}
    for c in col:
        if c in ("frame", "keypoint"):
            continue
        grid = np.full((t, len(names)), np.nan, dtype=np.float64)
        grid[frames, kj] = [_float(r[col[c]]) for r in rows]
        grids[c] = grid
    return names, grids


# -- tidy CSV -------------------------------------------------------------------------
def write_tidy_csv(track: Track, path: str | Path, edited: np.ndarray | None = None) -> Path:
    """frame, keypoint, x, y, confidence, x3d, y3d, z3d, flip_suspect; one row per
    frame and keypoint (pixels, metres); with ``edited`` (T, J) bool also an ``edited``
    column (1 for points corrected or confirmed by hand). Written atomically, once."""
    c = track.tidy_columns()
    header = list(c)
    columns = [
        c["frame"].tolist(), c["keypoint"].tolist(), _fmt(c["x"], 4), _fmt(c["y"], 4),
        _fmt(c["confidence"], 5), _fmt(c["x3d"], 6), _fmt(c["y3d"], 6), _fmt(c["z3d"], 6),
        c["flip_suspect"].astype(int).tolist()]
    if edited is not None:
        flags = np.asarray(edited, dtype=bool)
        if flags.shape != track.keypoints.shape[:2]:
            raise InputError(f"{path}: edited flags of shape {flags.shape}, the track has "
                             f"{track.keypoints.shape[:2]}")
        header.append("edited")
        columns.append(flags.reshape(-1).astype(int).tolist())  # frame-major, as the rows
    return _write_rows(path, header, columns)


def read_tidy_csv(path: str | Path, fps: float = 30.0,
                  frame_size: tuple[int, int] = (0, 0)) -> Track:
    """Read a tidy CSV (x, y required; confidence, x3d/y3d/z3d, flip_suspect optional)."""
    rows = _read_rows(path)
    if not rows:
        raise InputError(f"{path}: empty file")
    names, g = _tidy_grid(rows[1:], rows[0], Path(path), ("x", "y"))
    kp = np.stack([g["x"], g["y"]], axis=-1)
    conf = g.get("confidence", np.isfinite(kp).all(-1).astype(float))
    k3d = np.stack([g.get(k, np.full_like(g["x"], np.nan)) for k in ("x3d", "y3d", "z3d")], -1)
    flips = np.nan_to_num(g["flip_suspect"]).any(axis=1) if "flip_suspect" in g else None
    return Track(names, kp, conf, k3d, flips, fps=fps, frame_size=frame_size, source=str(path))


def read_edited(path: str | Path, track: Track | None = None) -> np.ndarray | None:
    """The ``edited`` column of a tidy CSV as (T, J) bool in the order of ``track``'s
    keypoints (default: the file's), or None when the file has no such column."""
    rows = _read_rows(path)
    if not rows or "edited" not in rows[0]:
        return None
    names, g = _tidy_grid(rows[1:], rows[0], Path(path), ("edited",))
    flags = np.nan_to_num(g["edited"]) > 0
    if track is None:
        return flags
    index = [names.index(n) if n in names else -1 for n in track.keypoint_names]
    out = np.zeros(track.keypoints.shape[:2], dtype=bool)
    t = min(len(out), len(flags))
    for j, i in enumerate(index):
        if i >= 0:
            out[:t, j] = flags[:t, i]
    return out


# -- DeepLabCut CSV ---------------------------------------------------------------------
def write_dlc_csv(track: Track, path: str | Path, scorer: str = "abspose") -> Path:
    """DeepLabCut's layout: rows scorer / bodyparts / coords, then one row per frame with
    x, y, likelihood for each bodypart; the first column is the frame index."""
    j = track.num_keypoints
    header_rows = [
        ["scorer"] + [scorer] * (3 * j),
        ["bodyparts"] + [n for n in track.keypoint_names for _ in range(3)],
        ["coords"] + ["x", "y", "likelihood"] * j,
    ]
    values = np.concatenate([track.keypoints, track.confidence[..., None]], axis=-1)  # (T,J,3)
    digits = [4, 4, 5] * j
    flat = values.reshape(len(track), 3 * j)
    columns = [list(map(str, range(len(track))))]
    columns += [_fmt(flat[:, i], digits[i]) for i in range(3 * j)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(header_rows)
    writer.writerows(zip(*columns, strict=True))
    return atomic_write_text(path, buf.getvalue())


def read_dlc_csv(path: str | Path, fps: float = 30.0,
                 frame_size: tuple[int, int] = (0, 0)) -> Track:
    """Read a single-animal DeepLabCut CSV (predictions with likelihood, or labels with
    x and y only, where a labelled point gets confidence 1)."""
    rows = _read_rows(path)
    if len(rows) < 3 or rows[0][0] != "scorer":
        raise InputError(f"{path}: not a DeepLabCut CSV (expected header rows scorer, "
                         "bodyparts, coords)")
    if rows[1][0] == "individuals":
        raise InputError(f"{path}: multi-animal DeepLabCut files are not supported")
    if rows[1][0] != "bodyparts" or rows[2][0] != "coords":
        raise InputError(f"{path}: expected header rows scorer, bodyparts, coords")
    parts, coords = rows[1][1:], rows[2][1:]
    names = list(dict.fromkeys(parts))
    data = rows[3:]
    kp = np.full((len(data), len(names), 2), np.nan)
    conf = np.full((len(data), len(names)), np.nan)
    for c, (part, coord) in enumerate(zip(parts, coords, strict=True)):
        col = np.array([_float(r[c + 1]) if c + 1 < len(r) else np.nan for r in data])
        j = names.index(part)
        if coord in ("x", "y"):
            kp[:, j, "xy".index(coord)] = col
        elif coord == "likelihood":
            conf[:, j] = col
    labelled = np.isfinite(kp).all(-1)
    conf = np.where(np.isnan(conf), labelled.astype(float), conf)
    return Track(names, kp, conf, fps=fps, frame_size=frame_size, source=str(path))


# -- COCO keypoints JSON ----------------------------------------------------------------
def write_coco_json(track: Track, path: str | Path, visible_threshold: float = 0.5,
                    category: str | None = None) -> Path:
    """COCO keypoints: one image per frame (``file_name`` <video stem>_<frame>.png,
    with ``frame_index``), one annotation per frame with any keypoint, the category with
    the keypoint names and the skeleton (1-based index pairs, as COCO has them).

    Visibility v: 2 where confidence >= ``visible_threshold``, 1 below it, 0 (and x = y
    = 0) where the keypoint is missing. Confidences are kept in ``keypoint_scores``
    (as MMPose writes them) and ``score`` is their mean.
    """
    stem = Path(track.source).stem or "frame"
    h, w = track.frame_size
    name = category or _category_name(track)
    images, annotations = [], []
    for t in range(len(track)):
        images.append({"id": t + 1, "file_name": f"{stem}_{t:06d}.png", "width": w,
                       "height": h, "frame_index": t})
        kp, conf = track.keypoints[t].astype(np.float64), track.confidence[t].astype(np.float64)
        found = np.isfinite(kp).all(-1)
        if not found.any():
            continue
        vis = np.where(found, np.where(np.nan_to_num(conf) >= visible_threshold, 2, 1), 0)
        xyv = np.concatenate([np.where(found[:, None], kp, 0.0), vis[:, None]], axis=1)
        lo, hi = kp[found].min(0), kp[found].max(0)
        box = [round(float(lo[0]), 3), round(float(lo[1]), 3),
               round(float(hi[0] - lo[0]), 3), round(float(hi[1] - lo[1]), 3)]
        annotations.append({
            "id": len(annotations) + 1, "image_id": t + 1, "category_id": 1,
            "keypoints": [round(float(v), 4) if i % 3 < 2 else int(v)
                          for i, v in enumerate(xyv.reshape(-1))],
            "num_keypoints": int((vis > 0).sum()),
            "keypoint_scores": [round(float(c), 5) if np.isfinite(c) else 0.0 for c in conf],
            "score": round(float(np.nanmean(np.where(found, conf, np.nan))), 5),
            "bbox": box, "area": round(box[2] * box[3], 3), "iscrowd": 0,
            "flip_suspect": bool(track.flip_suspect[t]),
        })
    doc = {
        "info": {"description": f"keypoints predicted by napari-abspose {__version__}",
                 "version": __version__, "source": track.source, "fps": track.fps,
                 "date_created": datetime.datetime.now().isoformat(timespec="seconds")},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": name, "supercategory": name,
                        "keypoints": list(track.keypoint_names),
                        "skeleton": [[a + 1, b + 1] for a, b in track.edges]}],
    }
    return atomic_write_text(path, json.dumps(doc, separators=(",", ":")))


def _category_name(track: Track) -> str:
    if track.skeleton is None:
        return "subject"
    return "person" if track.skeleton.name == "human" else track.skeleton.name


def read_coco_json(path: str | Path) -> Track:
    """Read a COCO keypoints file with one subject per image (the first category).

    Frames are ordered by ``frame_index`` when present, else by image id. Confidence is
    ``keypoint_scores`` when present, else 1.0 for v = 2 and 0.5 for v = 1.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        category = doc["categories"][0]
        names = list(category["keypoints"])
        images = sorted(doc["images"], key=lambda im: (im.get("frame_index", im["id"]),
                                                       im["id"]))
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise InputError(f"{path}: not a COCO keypoints file ({err!r})") from None
    row = {im["id"]: t for t, im in enumerate(images)}
    kp = np.full((len(images), len(names), 2), np.nan)
    conf = np.zeros((len(images), len(names)))
    flips = np.zeros(len(images), dtype=bool)
    for ann in doc.get("annotations", []):
        if ann.get("category_id", category["id"]) != category["id"]:
            continue
        t = row[ann["image_id"]]
        xyv = np.asarray(ann["keypoints"], dtype=np.float64).reshape(len(names), 3)
        found = xyv[:, 2] > 0
        kp[t] = np.where(found[:, None], xyv[:, :2], np.nan)
        scores = ann.get("keypoint_scores")
        conf[t] = scores if scores is not None else np.select(
            [xyv[:, 2] == 2, xyv[:, 2] == 1], [1.0, 0.5], 0.0)
        flips[t] = bool(ann.get("flip_suspect", False))
    size = (images[0].get("height", 0), images[0].get("width", 0)) if images else (0, 0)
    info = doc.get("info", {})
    return Track(names, kp, conf, flip_suspect=flips, fps=info.get("fps", 30.0),
                 frame_size=size, source=info.get("source", str(path)))


# -- 3D: npz and CSV ----------------------------------------------------------------------
def write_3d_npz(track: Track, path: str | Path) -> Path:
    """Arrays keypoints_3d (T, J, 3) metres, keypoints_2d (T, J, 2) pixels, confidence,
    flip_suspect, keypoint_names (J,), edges (E, 2), intrinsics (3, 3) (NaN when
    unknown), fps, frame_size (H, W), source; readable with ``allow_pickle=False``."""
    arrays = {
        "keypoints_3d": track.keypoints_3d, "keypoints_2d": track.keypoints,
        "confidence": track.confidence, "flip_suspect": track.flip_suspect,
        "keypoint_names": np.asarray(track.keypoint_names, dtype=str),
        "edges": np.asarray(track.edges, dtype=np.int64).reshape(-1, 2),
        "intrinsics": (np.full((3, 3), np.nan) if track.intrinsics is None
                       else track.intrinsics),
        "fps": np.float64(track.fps), "frame_size": np.asarray(track.frame_size, np.int64),
        "source": np.asarray(track.source, dtype=str),
    }
    if track.boxes is not None:
        arrays["boxes"] = track.boxes
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return Path(path)


def read_3d_npz(path: str | Path) -> Track:
    """Read what :func:`write_3d_npz` wrote."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        intr = d.get("intrinsics")
        return Track([str(k) for k in d["keypoint_names"]], d["keypoints_2d"], d["confidence"],
                     d["keypoints_3d"], d.get("flip_suspect"), fps=float(d.get("fps", 30.0)),
                     frame_size=tuple(d.get("frame_size", (0, 0))),
                     source=str(d.get("source", "")),
                     intrinsics=None if intr is None or np.isnan(intr).all() else intr,
                     boxes=d.get("boxes"))
    except (KeyError, ValueError, OSError) as err:
        raise InputError(f"{path}: not a keypoints npz ({err})") from None


def write_3d_csv(track: Track, path: str | Path) -> Path:
    """frame, keypoint, x, y, z (metres, camera frame), confidence."""
    c = track.tidy_columns()
    return _write_rows(path, ["frame", "keypoint", "x", "y", "z", "confidence"], [
        c["frame"].tolist(), c["keypoint"].tolist(), _fmt(c["x3d"], 6), _fmt(c["y3d"], 6),
        _fmt(c["z3d"], 6), _fmt(c["confidence"], 5)])


def read_3d_csv(path: str | Path, fps: float = 30.0) -> Track:
    """Read what :func:`write_3d_csv` wrote (2D keypoints are unknown: NaN)."""
    rows = _read_rows(path)
    if not rows:
        raise InputError(f"{path}: empty file")
    names, g = _tidy_grid(rows[1:], rows[0], Path(path), ("x", "y", "z"))
    k3d = np.stack([g["x"], g["y"], g["z"]], axis=-1)
    conf = g.get("confidence", np.isfinite(k3d).all(-1).astype(float))
    return Track(names, np.full((*k3d.shape[:2], 2), np.nan), conf, k3d, fps=fps,
                 source=str(path))


# -- all at once ------------------------------------------------------------------------
WRITERS = {"csv": write_tidy_csv, "dlc": write_dlc_csv, "coco": write_coco_json,
           "npz": write_3d_npz, "csv3d": write_3d_csv}


def parse_formats(text: str | Sequence[str]) -> list[str]:
    """``"csv,dlc"`` or ``["csv", "dlc"]`` -> validated format names (``"all"``: every one)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    items = [i.strip().lower() for i in items if i.strip()]
    if "all" in items:
        return list(FORMATS)
    unknown = [i for i in items if i not in FORMATS]
    if unknown or not items:
        raise InputError(f"unknown export format(s) {unknown or items}; "
                         f"choose from {', '.join(FORMATS)} or all")
    return list(dict.fromkeys(items))


def export_paths(out_dir: str | Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    """Where :func:`export_track` writes each format."""
    return {f: Path(out_dir) / f"{stem}{FORMATS[f]}" for f in parse_formats(formats)}


def check_free(paths: Iterable[Path], overwrite: bool) -> None:
    """Raise unless every path is free (or ``overwrite``): never overwrite silently."""
    if overwrite:
        return
    taken = [str(p) for p in paths if Path(p).exists()]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise InputError(f"output file {taken[0]} exists{more}; pass --overwrite to replace it")


def export_track(track: Track, out_dir: str | Path, stem: str,
                 formats: Sequence[str] | str = ("csv",), overwrite: bool = False) -> list[Path]:
    """Write ``track`` in each format to ``out_dir/<stem><suffix>``; returns the paths."""
    paths = export_paths(out_dir, stem, formats)
    check_free(paths.values(), overwrite)
    return [WRITERS[f](track, p) for f, p in paths.items()]
