"""Speed of the synthetic data stream, and the contact sheets of both styles.

    python benchmarks/synthetic.py [--batch 64] [--size 128] [--repeats 9] [--threads 1 2]
                                   [--device cpu|cuda] [--styles randomized capsules target]
    python benchmarks/synthetic.py --sheets docs/images     # write the two contact sheets
    python benchmarks/synthetic.py --paired OTHER_CHECKOUT [--batches 40] [--styles randomized]

For every style and thread count: ``SyntheticStream.next()`` timed over ``repeats``
batches after two warm-up batches, with the appearance partner (what pretraining uses:
every sample is two rendered images) and without it, all configurations interleaved.
Printed: median and best seconds per batch, samples/s (median), rendered images/s
(median), the share of time of the main stages in the median batch, and a load probe
(million multiply-adds per second of one big elementwise op, before every repeat).
Medians, because the machine may be shared. Styles: ``randomized`` (mesh people, its
default), ``capsules`` (the randomized style with capsule people), ``target``; the stage
shares time the stages of both renderers (``training.synthetic.render_capsules`` and
``render_mesh``; the mesh renderer draws its props with the capsule rasterizer).

``--paired OTHER``: this checkout against another one (e.g. a ``git worktree`` of an
older commit), for a machine whose speed swings: two processes, one per checkout, draw
one batch each in turn (the order alternating), for every style and partner setting;
printed: both medians, images/s, and the median of the batch-by-batch speed-ups.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

# keep this folder (first on sys.path) from hiding the packages, e.g. a training.py here
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from training.synthetic import SyntheticStream, render_capsules, render_mesh, style_config  # noqa: E402


def _style(name: str):
    return style_config("randomized", body="capsules") if name == "capsules" else name


STAGES = ("rasterize", "surface", "shade_body", "render_background", "postprocess",
          "rasterize_mesh", "mesh_surface", "shade_mesh")


def _instrument() -> dict[str, float]:
    """Wrap the main stages of both renderers with timers (accumulated seconds), where
    each renderer looks them up."""
    spent = dict.fromkeys(STAGES, 0.0)
    for module in (render_capsules, render_mesh):
        for name in STAGES:
            fn = getattr(module, name, None)
            if fn is None:
                continue

            def timed(*a, _fn=fn, _name=name, **k):
                t = time.perf_counter()
                out = _fn(*a, **k)
                spent[_name] += time.perf_counter() - t
                return out

            setattr(module, name, timed)
    return spent


def measure(configs: list[dict], batch: int, size: int, repeats: int, device: str,
            spent: dict[str, float]) -> list[dict]:
    """Time every configuration (style, skeleton, partner, threads), interleaved: each
    repeat runs every configuration once in turn, so load changes hit all alike."""
    streams = []
    for cfg in configs:
        torch.set_num_threads(cfg["threads"])
        s = SyntheticStream(_style(cfg["style"]), cfg["skeleton"], batch_size=batch,
                            size=(size, size), device=device, seed=0,
                            with_appearance=cfg["partner"], threads=cfg["threads"])
        for _ in range(2):  # warm up
            s.next()
        streams.append(s)
    times = [[] for _ in configs]
    shares = [[] for _ in configs]
    probes = []
    for _ in range(repeats):
        probes.append(_op_rate())
        for k, (cfg, stream) in enumerate(zip(configs, streams, strict=True)):
            torch.set_num_threads(cfg["threads"])
            for name in spent:
                spent[name] = 0.0
            t = time.perf_counter()
            stream.next()
            if device == "cuda":
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t)
            shares[k].append({n: v / times[k][-1] for n, v in spent.items()})
    rows = []
    for cfg, ts, sh in zip(configs, times, shares, strict=True):
        med = statistics.median(ts)
        mid = sh[ts.index(sorted(ts)[len(ts) // 2])]
        images = batch * (2 if cfg["partner"] else 1)
        rows.append({**cfg, "median_s": round(med, 4), "best_s": round(min(ts), 4),
                     "samples_per_s": round(batch / med, 1),
                     "images_per_s": round(images / med, 1),
                     "stage_share": {n: round(v, 3) for n, v in mid.items()}})
    rows.append({"probe_median_Mops": statistics.median(probes), "probe_min_Mops": min(probes),
                 "probe_max_Mops": max(probes)})
    return rows


def _op_rate() -> float:
    """Million float multiply-adds per second of this process right now (load probe)."""
    x = torch.rand(4_000_000)
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        x.mul(1.0001).add_(0.5)
        ts.append(time.perf_counter() - t)
    return round(4.0 / statistics.median(ts), 1)


def sheets(folder: Path, size: int = 128) -> list[Path]:
    """docs/images/synthetic_randomized.png: 3 rows of people and 1 of animals from the
    randomized stream; synthetic_target.png: the seven target subjects and a target dog,
    two frames each of two of their clips per slot (4 rows of 2 slots)."""
    from core.io import write_png
    from core.overlay import contact_sheet
    from core.skeleton import HUMAN, QUADRUPED
    from training.synthetic.target import TARGET_SUBJECTS
    from training.synthetic.video import render_clip

    folder.mkdir(parents=True, exist_ok=True)
    people = SyntheticStream("randomized", "human", batch_size=24, size=(size, size), seed=1)
    animals = SyntheticStream("randomized", "quadruped", batch_size=8, size=(size, size),
                              seed=1)
    imgs = torch.cat([people.next().image, animals.next().image])
    tiles = (imgs.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
    grid = contact_sheet(list(tiles), columns=8, tile_width=size, gap=0)  # 4 rows of 8
    out = [write_png(folder / "synthetic_randomized.png", grid)]
    human_acts = [("walk", "phone"), ("sitting", "pick_up"), ("wave", "squat"),
                  ("eat", "greet")]
    slots = [(HUMAN, s, human_acts[k % 4]) for k, s in enumerate(TARGET_SUBJECTS)]
    slots.append((QUADRUPED, "S1", ("trot", "sit")))
    frames = []
    for skeleton, subject, acts in slots:
        for a in acts:
            clip = render_clip(skeleton, "target", subject, a, frames=60, size=(size, size))
            frames += [clip["frames"][15], clip["frames"][55]]
    grid = contact_sheet(frames, columns=8, tile_width=size, gap=0)  # 2 slots of 4 a row
    out.append(write_png(folder / "synthetic_target.png", grid))
    return out


def _worker(tree: str, style: str, partner: bool, batch: int, size: int) -> None:
    """Draw one batch per line read on stdin, print its seconds (``--paired``)."""
    sys.path.insert(0, tree)
    for name in [m for m in sys.modules if m.split(".")[0] in ("training", "core")]:
        del sys.modules[name]  # this checkout's, imported above
    import training.synthetic
    from training.synthetic import SyntheticStream as Stream

    torch.set_num_threads(1)
    s = Stream(_style(style), "human", batch_size=batch, size=(size, size), seed=0,
               with_appearance=partner, threads=1)
    for _ in range(2):
        s.next()
    print("ready", Path(training.synthetic.__file__).resolve(), flush=True)
    for _ in sys.stdin:
        t = time.perf_counter()
        s.next()
        print(time.perf_counter() - t, flush=True)


def paired(other: Path, styles: list[str], batches: int, batch: int, size: int) -> None:
    import subprocess

    here = Path(__file__).resolve().parents[1]
    for style in styles:
        for partner in (True, False):
            procs = {}
            for name, tree in (("other", other.resolve()), ("this", here)):
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(tree),
                       "--styles", style, "--batch", str(batch), "--size", str(size)]
                if partner:
                    cmd.append("--partner")
                procs[name] = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                               stdout=subprocess.PIPE, text=True)
                answer = procs[name].stdout.readline().split()
                if answer[:1] != ["ready"] or not Path(answer[1]).is_relative_to(tree):
                    raise SystemExit(f"the stream of {tree} did not start from there")
            times = {name: [] for name in procs}
            for i in range(batches):
                for name in (("other", "this") if i % 2 == 0 else ("this", "other")):
                    procs[name].stdin.write("next\n")
                    procs[name].stdin.flush()
                    times[name].append(float(procs[name].stdout.readline()))
            for p in procs.values():
                p.stdin.close()
                p.wait()
            images = batch * (2 if partner else 1)
            med = {name: statistics.median(ts) for name, ts in times.items()}
            gain = statistics.median(a / b for a, b in zip(times["other"], times["this"],
                                                            strict=True))
            print(json.dumps({"style": style, "partner": partner, "batches": batches,
                              "other_median_s": round(med["other"], 4),
                              "this_median_s": round(med["this"], 4),
                              "other_images_per_s": round(images / med["other"], 1),
                              "this_images_per_s": round(images / med["this"], 1),
                              "median_speedup": round(gain, 3)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--device", default="cpu")
    p.add_argument("--styles", nargs="+", default=["randomized", "capsules", "target"])
    p.add_argument("--skeleton", default="human")
    p.add_argument("--sheets", type=Path, default=None,
                   help="write the two contact sheets into this folder and exit")
    p.add_argument("--paired", type=Path, default=None, metavar="OTHER_CHECKOUT",
                   help="time this checkout against another one, batch by batch")
    p.add_argument("--batches", type=int, default=40, help="batches per --paired run")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--partner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        _worker(args.worker, args.styles[0], args.partner, args.batch, args.size)
        return
    if args.paired is not None:
        if not (args.paired / "training" / "synthetic").is_dir():
            raise SystemExit(f"--paired: {args.paired} is not a napari-abspose checkout "
                             "(no training/synthetic folder)")
        paired(args.paired, args.styles if args.styles != p.get_default("styles")
               else ["randomized"], args.batches, args.batch, args.size)
        return
    if args.sheets is not None:
        for path in sheets(args.sheets):
            print(f"wrote {path}")
        return
    spent = _instrument()
    print(json.dumps({"machine": platform.processor() or platform.machine(),
                      "cpus": torch.get_num_threads(), "torch": torch.__version__,
                      "device": args.device, "batch": args.batch, "size": args.size}))
    configs = [{"style": style, "skeleton": args.skeleton, "partner": partner,
                "threads": threads}
               for threads in args.threads for style in args.styles for partner in (True, False)]
    for row in measure(configs, args.batch, args.size, args.repeats, args.device, spent):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
