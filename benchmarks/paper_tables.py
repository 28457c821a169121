"""The paper's Tables 1 and 2 on the ``target`` benchmark, with the project's own commands.

    python benchmarks/paper_tables.py --bench BENCH --work RUNS [--config CONFIG]
        [--threads 1] [--only ROW ...]

BENCH holds ``train/`` (the train subjects' clips: only their videos are read) and
``test/`` (the held-out subjects' clips with labels), both written by ``abspose synth
--style target`` (the exact commands are in docs/RESULTS.md). For every row it runs
``abspose pretrain`` / ``train`` / ``refine`` / ``evaluate`` as a user would, records the
wall time of each command, and finally prints both tables (ignoring flips, considering
flips) in Markdown. Every command's output lands in RUNS; a row whose results exist is
not run again, so an interrupted run continues where it stopped.

Pretraining is two commands: every component independently on synthetic data (as in
the paper), then a short run with the keypoint head reading the encoder's skeleton
images, so that the path prediction runs is trained end to end.

Rows: synthetic-only 5ch (pretraining alone); Ours 1ch/3ch/5ch (pretraining, then
unsupervised training on the train subjects' videos); Ours Refined 1ch/3ch/5ch (Ours
refined on each test subject's videos, one refinement per subject rather than per video
as in the paper, to fit a CPU); No-Synth 5ch (unsupervised training from
random weights without any synthetic supervision), unrefined and refined (refinement
without synthetic supervision either).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "paper_tables" / "bench64.yaml"
NO_SYNTH = ["train.synthetic_batch_size=0", "train.weights.synthetic_skeleton_image=0",
            "train.weights.synthetic_keypoints_2d=0", "train.weights.synthetic_keypoints_3d=0",
            "train.weights.synthetic_rotations=0"]
NO_SYNTH_REFINE = [s.replace("train.", "refine.") for s in NO_SYNTH]
# The end of pretraining: the image-to-keypoints path trained end to end (the keypoint
# head reading the encoder's skeleton images) after the components were pretrained
# independently; only the 2D terms, so the uplift and the renderer are left as they are.
END_TO_END = ["pretrain.steps=200", "pretrain.keypoints_input=encoder",
              "pretrain.weights.perceptual=0", "pretrain.weights.image_gan=0",
              "pretrain.weights.image_feature_matching=0",
              "pretrain.weights.synthetic_keypoints_3d=0",
              "pretrain.weights.synthetic_rotations=0"]
ROWS = ["synthetic-only 5ch", "Ours 1ch", "Ours 3ch", "Ours 5ch", "No-Synth 5ch",
        "Ours Refined 1ch", "Ours Refined 3ch", "Ours Refined 5ch", "No-Synth Refined 5ch"]


class Runner:
    def __init__(self, work: Path, config: Path, threads: int, extra: list[str]):
        self.work, self.config, self.extra = work, config, extra
        self.env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.threads = threads
        self.times_path = work / "wall_times.json"
        self.times = json.loads(self.times_path.read_text()) if self.times_path.exists() else {}

    def abspose(self, key: str, *args: str, done: Path) -> Path:
        """Run one ``abspose`` command unless ``done`` exists; record its wall time."""
        if done.exists():
            if key not in self.times and (done.parent / "config.yaml").exists():
                # run outside this script (or before it recorded): first to last file
                self.record(key, done.stat().st_mtime - (done.parent / "config.yaml").stat(
                ).st_mtime)
            return done
        cmd = [sys.executable, "-m", "training.cli", *args]
        print(f"[{time.strftime('%H:%M:%S')}] {key}: abspose {' '.join(args)}", flush=True)
        t0 = time.perf_counter()
        with open(self.work / f"{key.replace(' ', '_')}.log", "a") as log:
            subprocess.run(cmd, check=True, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                           cwd=HERE.parent)
        self.record(key, time.perf_counter() - t0)
        return done

    def record(self, key: str, seconds: float) -> None:
        """Add one wall time to the file, keeping what other runners wrote meanwhile
        (rows can be split across processes with ``--only``)."""
        if self.times_path.exists():
            self.times = {**json.loads(self.times_path.read_text()), **self.times}
        self.times[key] = seconds
        tmp = self.times_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.times, indent=1))
        tmp.replace(self.times_path)

    def stage(self, stage: str, out: str, *args: str, steps_set: list[str] = ()) -> Path:
        run = self.work / out
        sets = [a for s in [*self.extra, f"threads={self.threads}", *steps_set]
                for a in ("--set", s)]
        return self.abspose(out, stage, "--config", str(self.config), "--out", str(run),
                            "--device", "cpu", "--no-progress", *args, *sets,
                            done=run / "last.pt")

    def evaluate(self, row: str, test: Path, *args: str) -> dict:
        out = self.work / f"eval_{row.replace(' ', '_')}.json"
        self.abspose(f"eval {row}", "evaluate", str(test), "--device", "cpu", "--name", row,
                     "--json", str(out), *args, done=out)
        return json.loads(out.read_text())

    def refine_all(self, key: str, ckpt: Path, test: Path, sets: list[str]) -> Path:
        """Refine on each test subject's videos (all its clips at once), then point every
        clip's ``<clip>/refined.pt`` (what ``abspose evaluate --refined`` reads) at its
        subject's refined model."""
        folder = self.work / f"refined_{key}"
        subjects: dict[str, list[Path]] = {}
        for video in sorted(test.glob("*.mp4")):
            subjects.setdefault(video.stem.split("_", 1)[0], []).append(video)
        for subject, videos in subjects.items():
            run = folder / f"subject_{subject}"
            args = ["refine", *map(str, videos), "--from", str(ckpt), "--config",
                    str(self.config), "--out", str(run), "--device", "cpu", "--no-progress"]
            for s in [*self.extra, f"threads={self.threads}", *sets]:
                args += ["--set", s]
            self.abspose(f"refine {key} {subject}", *args, done=run / "refined.pt")
            for video in videos:
                link = folder / video.stem / "refined.pt"
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.exists():
                    link.symlink_to(run / "refined.pt")
        return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, required=True, help="folder with train/ and test/")
    ap.add_argument("--work", type=Path, required=True, help="folder for runs and results")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", dest="extra", action="append", default=[],
                    help="extra config override for every stage")
    ap.add_argument("--only", nargs="+", choices=ROWS, default=ROWS)
    args = ap.parse_args(argv)
    train, test = args.bench / "train", args.bench / "test"
    args.work.mkdir(parents=True, exist_ok=True)
    r = Runner(args.work, args.config, args.threads, args.extra)
    results: dict[str, dict] = {}
    want = set(args.only)

    def layout(ch: str) -> list[str]:
        return [f"model.layout={ch}"]

    trained: dict[str, Path] = {}
    for ch in ("5ch", "1ch", "3ch"):
        if not want & {f"Ours {ch}", f"Ours Refined {ch}", f"synthetic-only {ch}"}:
            continue
        pre = r.stage("pretrain", f"pretrain_{ch}", steps_set=layout(ch))
        pre = r.stage("pretrain", f"pretrain_e2e_{ch}", "--from", str(pre),
                      steps_set=layout(ch) + END_TO_END)
        if f"synthetic-only {ch}" in want:
            results[f"synthetic-only {ch}"] = r.evaluate(f"synthetic-only {ch}", test,
                                                         "--checkpoint", str(pre))
        trained[ch] = r.stage("train", f"train_{ch}", "--videos", str(train), "--from", str(pre))
        if f"Ours {ch}" in want:
            results[f"Ours {ch}"] = r.evaluate(f"Ours {ch}", test, "--checkpoint",
                                               str(trained[ch]))
    if want & {"No-Synth 5ch", "No-Synth Refined 5ch"}:
        trained["nosynth"] = r.stage("train", "train_nosynth_5ch", "--videos", str(train),
                                     steps_set=layout("5ch") + NO_SYNTH)
        if "No-Synth 5ch" in want:
            results["No-Synth 5ch"] = r.evaluate("No-Synth 5ch", test, "--checkpoint",
                                                 str(trained["nosynth"]))
    for ch in ("5ch", "1ch", "3ch"):
        if f"Ours Refined {ch}" in want:
            folder = r.refine_all(ch, trained[ch], test, [])
            results[f"Ours Refined {ch}"] = r.evaluate(f"Ours Refined {ch}", test,
                                                       "--refined", str(folder))
    if "No-Synth Refined 5ch" in want:
        folder = r.refine_all("nosynth", trained["nosynth"], test, NO_SYNTH_REFINE)
        results["No-Synth Refined 5ch"] = r.evaluate("No-Synth Refined 5ch", test,
                                                     "--refined", str(folder))

    from training.evaluate import format_table

    rows = {k: results[k]["summary"] for k in ROWS if k in results}
    for title, metric in (("Table 1: error (px at 128x128) ignoring flips", "error_ignore_flips"),
                          ("Table 2: error (px at 128x128) considering flips",
                           "error_consider_flips"),
                          ("flip rate", "flip_rate"), ("clear flip rate", "flip_rate_clear"),
                          ("PCK@6px", "pck@6"),
                          ("MPJPE (mm)", "mpjpe_mm")):
        print(f"\n{title}\n" + format_table(rows, metric, digits=3 if "rate" in title or
                                            "PCK" in title else 2))
    print("\nwall time per command (s):")
    for k, v in r.times.items():
        print(f"  {k}: {v:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
