"""The face detectors compared on this machine in one run: YuNet (the default) against MTCNN.

    python tests/bench/detect_bench.py [--skip-train] [--skip-video] [--skip-photos] [--sheets DIR]

1. LFW-62 from an empty crop cache to a trained embedding model: ``train/train_face.py`` as a user runs
   it (a new process, a new empty cache for each detector), timed from start to exit, with its held-out
   accuracy and the photos in which a face was found. Targets: YuNet ≤ 40 s and ≥ 3× faster than
   MTCNN; held-out accuracy ≥ 99.6 %; a face in ≥ 99.9 % of the photos.
2. The street video (105 frames of 1080p) resized to 640×480, 640×360 and 960×540 (the window's size
   for a video file): frames per second of each detector alone, as the window runs it (YuNet's video
   preset, MTCNN's fast preset) and MTCNN as photos use it; faces per frame.
3. Photos: faces found by each detector (default settings) in the test photos and in seven frames of the
   video at full 1080p, where YuNet searches a second scale for small faces.
4. Tracks: the stream recogniser with each detector searching every frame of the video at 640×480, its
   faces followed from frame to frame; with ``--sheets``, each track's first aligned crop (what the
   model sees) with the number of frames it lasted, to count the false boxes in all 105 frames.
5. ``--get-started``: the first run, headless (``core/app/first_run.get_started``, what the window's
   button runs) with nothing on disk, against the loopback mirror of tests/mirror.py serving the real
   MobileFaceNet weights and LFW-62 packed from ../shared as the real archive is. Target ≤ 90 s.

``--sheets DIR`` cuts every box of every 5th video frame (and of the photos) out with its surroundings
into one contact sheet per detector and size, numbered, to look at: the boxes judged false by looking
are listed in ``detect_false_boxes.json`` beside this file and counted in the report. The sheets show
real people's faces from fixtures without a redistribution licence, so they are never committed.
Writes tests/bench/results/detect-cpu.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

from common import DATA, ROOT, SHARED, WEIGHTS, Path, results_stem

VIDEO = SHARED / "data" / "video" / "video.mp4"
PHOTOS = SHARED / "data" / "photos"
LABELS = Path(__file__).with_name("detect_false_boxes.json")
VIDEO_SIZES = ((640, 480), (640, 360), (960, 540))  # the last: how the window plays a video file
SHEET_EVERY = 5  # every 5th video frame goes on the contact sheets
FULL_FRAMES = (0, 15, 30, 45, 60, 75, 90)  # video frames searched at full size as photos
TRAIN_LINE = re.compile(r"(\d+) people, (\d+) training and (\d+) held-out faces; (\d+) photos without")
ACCURACY_LINE = re.compile(r"Held-out accuracy: ([\d.]+)%")


def load_average() -> float:
    """The machine's one-minute load average (2 means both cores busy): context for every timing."""
    return round(os.getloadavg()[0], 2)


def children_cpu_seconds() -> float:
    """CPU seconds (user + system) of the finished child processes: less swayed than wall time by
    other jobs on the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train_from_empty_cache(detector: str, scratch: Path) -> dict:
    """train_face.py on LFW-62 with ``detector`` and an empty crop cache of its own, timed as a user sees it."""
    cache = scratch / f"cache-{detector}"
    out = scratch / f"lfw62-{detector}.ckpt"
    command = [sys.executable, str(ROOT / "train" / "train_face.py"), "--data", str(DATA["lfw"])]
    command += ["--weights", str(WEIGHTS), "--device", "cpu", "--detector", detector, "--out", str(out)]
    env = {**os.environ, "FORGET_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    load_before = load_average()
    cpu_before = children_cpu_seconds()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    cpu = children_cpu_seconds() - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"train_face.py --detector {detector} failed:\n{result.stderr[-2000:]}")
    people, train, heldout, without = map(int, TRAIN_LINE.search(result.stdout).groups())
    accuracy = float(ACCURACY_LINE.search(result.stdout).group(1))
    photos = train + heldout + without
    return {
        "detector": detector,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "people": people,
        "photos": photos,
        "photos_with_face": train + heldout,
        "face_found_share": round((train + heldout) / photos, 5),
        "heldout_faces": heldout,
        "heldout_correct": round(accuracy / 100 * heldout),
        "heldout_acc": accuracy,
        "load_before": load_before,
        "load_after": load_average(),
    }


def video_frames(size: tuple[int, int]) -> list[np.ndarray]:
    from forget_desktop.core.faces.frames import VideoFrames

    return [frame.rgb for frame in VideoFrames(VIDEO, size=size)]


def detectors() -> dict:
    """The detectors compared: as the window runs them on video, and MTCNN as photos use it."""
    from forget_desktop.core.faces.detector import make_detector

    return {
        "yunet": make_detector("yunet", video=True),
        "mtcnn-fast": make_detector("mtcnn", video=True),
        "mtcnn": make_detector("mtcnn"),
    }


def time_video(frames: list[np.ndarray], detector) -> tuple[dict, list[list]]:
    """Frames per second of ``detector`` alone on every frame, faces per frame, and the faces."""
    detector.detect(frames[0])  # warm-up: the first call sets up the input size
    load_before = load_average()
    cpu_before = time.process_time()
    started = time.perf_counter()
    found = [detector.detect(rgb) for rgb in frames]
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    counts = [len(faces) for faces in found]
    row = {
        "frames": len(frames),
        "fps": round(len(frames) / seconds, 1),
        "cpu_ms_per_frame": round(1000 * cpu / len(frames), 1),
        "faces_per_frame": round(statistics.mean(counts), 2),
        "min_faces": min(counts),
        "max_faces": max(counts),
        "load_before": load_before,
        "load_after": load_average(),
    }
    return row, found


def contact_sheet(items: list[tuple[np.ndarray, object, str]], path: Path, side: int = 112, columns: int = 14) -> int:
    """Each (image, face, label) cut out with the box drawn, numbered from 0, on one PNG; returns the count."""
    tiles = []
    for number, (rgb, face, label) in enumerate(items):
        x1, y1, x2, y2 = (float(v) for v in face.box)
        radius = max(x2 - x1, y2 - y1, 4.0)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        pad = int(radius * 2) + 2
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
        top, left = int(cy - radius) + pad, int(cx - radius) + pad
        patch = padded[top : top + int(2 * radius), left : left + int(2 * radius)]
        scale = side / max(patch.shape[0], 1)
        tile = np.ascontiguousarray(cv2.resize(patch, (side, side), interpolation=cv2.INTER_CUBIC))
        corner = (int((x1 - cx + radius) * scale), int((y1 - cy + radius) * scale))
        far = (int((x2 - cx + radius) * scale), int((y2 - cy + radius) * scale))
        cv2.rectangle(tile, corner, far, (0, 255, 0), 1)
        cv2.putText(tile, f"#{number} {label}", (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1)
        cv2.putText(tile, f"{face.prob:.2f}", (2, side - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1)
        tiles.append(tile)
    rows = max(1, -(-len(tiles) // columns))
    sheet = np.zeros((rows * side, columns * side, 3), np.uint8)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        sheet[row * side : (row + 1) * side, column * side : (column + 1) * side] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return len(tiles)


def measure_video(sheets: Path | None) -> dict:
    results: dict = {}
    for size in VIDEO_SIZES:
        frames, name = video_frames(size), f"{size[0]}x{size[1]}"
        for detector_name, detector in detectors().items():
            row, found = time_video(frames, detector)
            if sheets is not None:
                items = [(frames[i], face, str(i)) for i in range(0, len(frames), SHEET_EVERY) for face in found[i]]
                row["sheet_boxes"] = contact_sheet(items, sheets / f"video-{name}-{detector_name}.png")
            results[f"{name} {detector_name}"] = row
            print(name, detector_name, row, flush=True)
    return results


def photo_set() -> list[tuple[str, np.ndarray]]:
    """(name, RGB) of the test photos and of some video frames at full size."""
    from forget_desktop.core.common.images import load_rgb
    from forget_desktop.core.faces.frames import VideoFrames

    paths = [PHOTOS / "multiface.jpg", *sorted((PHOTOS / "test_images").glob("*/1.jpg"))]
    paths += [PHOTOS / "skimage" / name for name in ("astronaut.png", "coffee.png", "rocket.jpg", "chelsea.png")]
    photos = [(path.relative_to(PHOTOS).as_posix(), load_rgb(path)) for path in paths]
    photos += [(f"video frame {f.index} (1080p)", f.rgb) for f in VideoFrames(VIDEO) if f.index in FULL_FRAMES]
    return photos


def measure_photos(sheets: Path | None) -> dict:
    from forget_desktop.core.faces.detector import make_detector

    photos, results = photo_set(), {}
    for detector_name in ("yunet", "mtcnn"):
        detector = make_detector(detector_name)
        detector.detect(photos[0][1])
        started = time.perf_counter()
        found = [detector.detect(rgb) for _, rgb in photos]
        seconds = time.perf_counter() - started
        results[detector_name] = {
            "faces": {name: len(faces) for (name, _), faces in zip(photos, found)},
            "seconds": round(seconds, 2),
        }
        if sheets is not None:
            items = [
                (rgb, face, f"p{index}") for index, ((_, rgb), faces) in enumerate(zip(photos, found)) for face in faces
            ]
            results[detector_name]["sheet_boxes"] = contact_sheet(items, sheets / f"photos-{detector_name}.png")
        print(detector_name, results[detector_name], flush=True)
    return results


def measure_tracks(sheets: Path | None) -> dict:
    """Each detector searching every frame at 640×480 in the stream recogniser: its tracks (see the docstring)."""
    import torch

    from common import ensure_model
    from forget_desktop.core.model.checkpoint import load_checkpoint
    from forget_desktop.core.recognition.recognise import Recogniser
    from forget_desktop.core.recognition.stream import VideoRecogniser

    model = ensure_model(
        "lfw", ROOT / "runs" / "lfw62-mobilefacenet-embedding-yunet.ckpt", torch.device("cpu"), kind="embedding"
    )
    checkpoint, frames, results = load_checkpoint(model), video_frames((640, 480)), {}
    for detector in ("yunet", "mtcnn"):
        stream = VideoRecogniser(Recogniser(checkpoint, detector_name=detector), detect_every=1)
        first: dict[str, tuple[int, np.ndarray]] = {}  # track → (its first frame, the crop named there)
        lasted: dict[str, int] = {}  # track → frames it was on
        for index, rgb in enumerate(frames):
            for face in stream.recognise(rgb):
                first.setdefault(str(face.track), (index, face.crop))
                lasted[str(face.track)] = lasted.get(str(face.track), 0) + 1
        results[detector] = {"tracks": len(first), "boxes": sum(lasted.values()), "frames": lasted}
        if sheets is not None:
            tiles = [(crop, f"#{track} f{index} x{lasted[track]}") for track, (index, crop) in first.items()]
            crop_sheet(tiles, sheets / f"tracks-640x480-{detector}.png")
        print("tracks", detector, len(first), "tracks,", sum(lasted.values()), "boxes", flush=True)
    return results


def crop_sheet(tiles: list[tuple[np.ndarray, str]], path: Path, side: int = 112, columns: int = 14) -> None:
    """Aligned crops side by side, each with its label."""
    rows = max(1, -(-len(tiles) // columns))
    sheet = np.zeros((rows * side, columns * side, 3), np.uint8)
    for index, (crop, label) in enumerate(tiles):
        tile = np.ascontiguousarray(cv2.resize(crop, (side, side)))
        cv2.putText(tile, label, (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1)
        row, column = divmod(index, columns)
        sheet[row * side : (row + 1) * side, column * side : (column + 1) * side] = tile
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


GET_STARTED = """
import sys, time
from pathlib import Path
import torch
from forget_desktop.core.app.first_run import get_started
from forget_desktop.core.app.workspace import Workspace
from forget_desktop.core.common.jobs import Progress
workspace = Workspace(torch.device("cpu"))
started = time.perf_counter()
photo = get_started(workspace, Progress(), Path(sys.argv[1]))
print(round(time.perf_counter() - started, 1), len(workspace.gallery.classes), workspace.checkpoint.crop.detector)
"""


def measure_get_started() -> dict:
    """Seconds of Get started with nothing on disk, downloads from a loopback mirror (see the docstring)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from forget_desktop.core.common import downloads
    from mirror import Mirror, real_files

    people = {p.name: len(list(p.iterdir())) for p in sorted(DATA["lfw"].iterdir())}
    files, manifest = real_files(people)
    with tempfile.TemporaryDirectory() as scratch, Mirror(files) as mirror:
        home = Path(scratch)
        (home / "manifest.json").write_text(json.dumps(manifest))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            downloads.MIRROR_ENV: mirror.url,
            downloads.MANIFEST_ENV: str(home / "manifest.json"),
            "FORGET_DATA_DIR": str(home / "data"),
            "FORGET_CACHE_DIR": str(home / "cache"),
            "FORGET_MOBILEFACENET_WEIGHTS": str(home / "data" / "models" / "mobilefacenet.pt"),
        }
        load_before = load_average()
        run = subprocess.run(
            [sys.executable, "-c", GET_STARTED, str(home / "data" / "lfw-demo")],
            capture_output=True,
            text=True,
            env=env,
        )
        if run.returncode != 0:
            raise SystemExit(f"get started failed:\n{run.stderr[-2000:]}")
        seconds, people_found, detector = run.stdout.split()
    return {
        "seconds": float(seconds),
        "people": int(people_found),
        "detector": detector,
        "archive_mb": round(len(files[next(k for k in files if not k.endswith(".pt"))]) / 1e6, 1),
        "load_before": load_before,
        "load_after": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument("--skip-photos", action="store_true")
    parser.add_argument("--skip-tracks", action="store_true")
    parser.add_argument("--get-started", action="store_true", help="time the first run against a loopback mirror")
    parser.add_argument("--sheets", type=Path, help="write contact sheets of every box here (to look at)")
    parser.add_argument("--out", help="results stem (default tests/bench/results/detect-cpu)")
    args = parser.parse_args()
    import torch

    out = results_stem(args.out, "detect-cpu")
    old = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    results: dict = {
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cv2_threads": cv2.getNumThreads(),
    }
    if not args.skip_train:
        with tempfile.TemporaryDirectory() as scratch:
            results["train"] = [train_from_empty_cache(name, Path(scratch)) for name in ("yunet", "mtcnn")]
        print("train", results["train"], flush=True)
    if not args.skip_video:
        results["video"] = measure_video(args.sheets)
    if not args.skip_photos:
        results["photos"] = measure_photos(args.sheets)
    if not args.skip_tracks:
        results["tracks"] = measure_tracks(args.sheets)
    if args.get_started:
        results["get_started"] = measure_get_started()
        print("get started", results["get_started"], flush=True)
    results = {**old, **results}  # the parts skipped keep their last measurement
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    write_markdown(results, out)


def write_markdown(results: dict, out: Path) -> None:
    labels = json.loads(LABELS.read_text()) if LABELS.exists() else {}
    lines = [
        "# Face detectors: YuNet (default) and MTCNN (offscreen, this CPU)",
        "",
        f"torch threads {results['threads']}, OpenCV threads {results['cv2_threads']}, {results['cpu_count']} cores. "
        "Load is the one-minute load average before → after each measurement (2.0: both cores busy; other "
        "engineers' jobs share this machine).",
        "",
    ]
    if "train" in results:
        yunet, mtcnn = results["train"]
        lines += [
            "## LFW-62 from an empty cache to a trained embedding model (`train/train_face.py`, one run)",
            "",
            "| detector | seconds | vs YuNet | CPU seconds | vs YuNet | held-out accuracy | photos with a face "
            "| load |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in (yunet, mtcnn):
            lines.append(
                f"| {row['detector']} | {row['seconds']} | ×{row['seconds'] / yunet['seconds']:.2f} | "
                f"{row['cpu_seconds']} | ×{row['cpu_seconds'] / yunet['cpu_seconds']:.2f} | "
                f"{row['heldout_acc']:.2f} % ({row['heldout_correct']} of {row['heldout_faces']}) | "
                f"{row['photos_with_face']} of {row['photos']} ({row['face_found_share']:.2%}) | "
                f"{row['load_before']} → {row['load_after']} |"
            )
        lines += [
            "",
            f"Targets: YuNet ≤ 40 s ({'met' if yunet['seconds'] <= 40 else 'missed'}), ≥ 3× faster than MTCNN "
            f"({'met' if mtcnn['seconds'] >= 3 * yunet['seconds'] else 'missed'}: "
            f"×{mtcnn['seconds'] / yunet['seconds']:.2f}), held-out ≥ 99.6 % "
            f"({'met' if yunet['heldout_acc'] >= 99.6 else 'missed'}), a face in ≥ 99.9 % of the photos "
            f"({'met' if yunet['face_found_share'] >= 0.999 else 'missed'}).",
            "",
        ]
    if "video" in results:
        lines += [
            "## The street video (105 frames), each detector alone on every frame",
            "",
            "yunet: the video preset (one search at the frame's size, as the window runs it); mtcnn-fast: MTCNN's "
            "video preset (the window's before this change); mtcnn: MTCNN as photos use it. False boxes: every "
            f"box of every {SHEET_EVERY}th frame looked at on a contact sheet (`--sheets`).",
            "",
            "| size | detector | frames/s | CPU ms per frame | faces per frame (min–max) | false boxes seen | load |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, row in results["video"].items():
            size, detector = key.split()
            lines.append(
                f"| {size} | {detector} | {row['fps']} | {row.get('cpu_ms_per_frame', '—')} | "
                f"{row['faces_per_frame']} ({row['min_faces']}–"
                f"{row['max_faces']}) | {false_boxes(labels, f'video {key}', row)} | "
                f"{row['load_before']} → {row['load_after']} |"
            )
        lines.append("")
    if "photos" in results:
        photos = results["photos"]
        lines += [
            "## Photos, default settings (YuNet searches a second scale in photos over 640 px)",
            "",
            "| photo | yunet | mtcnn |",
            "|---|---|---|",
        ]
        for name in photos["yunet"]["faces"]:
            lines.append(f"| {name} | {photos['yunet']['faces'][name]} | {photos['mtcnn']['faces'][name]} |")
        lines += [
            f"| **seconds for all** | {photos['yunet']['seconds']} | {photos['mtcnn']['seconds']} |",
            f"| **false boxes seen** | {false_boxes(labels, 'photos yunet', photos['yunet'])} | "
            f"{false_boxes(labels, 'photos mtcnn', photos['mtcnn'])} |",
            "",
        ]
    if "tracks" in results:
        lines += [
            "## Every frame of the video at 640×480, faces tracked (what the model sees)",
            "",
            "Each detector searching every frame in the stream recogniser; a track is one face followed from frame "
            "to frame. False: tracks whose aligned crop (what the model sees, `--sheets`) is no face, judged by "
            "looking, and the boxes they put on frames.",
            "",
            "| detector | tracks | boxes | false tracks | false boxes |",
            "|---|---|---|---|---|",
        ]
        for detector, row in results["tracks"].items():
            entry = labels.get(f"tracks {detector}")
            if entry is None or entry.get("tracks") != row["tracks"]:
                false_tracks = false_count = "not looked at"
            else:
                false_tracks = len(entry["false"])
                false_count = sum(row["frames"][str(n)] for n in entry["false"])
            lines.append(f"| {detector} | {row['tracks']} | {row['boxes']} | {false_tracks} | {false_count} |")
        lines.append("")
    if "get_started" in results:
        g = results["get_started"]
        lines += [
            "## Get started (first run, nothing on disk, loopback mirror)",
            "",
            f"**{g['seconds']} s** from the button to a trained model of {g['people']} people (faces by "
            f"{g['detector']}): the MobileFaceNet weights (4 MB) and a {g['archive_mb']} MB archive of LFW-62 (the "
            "real download is the 233 MB archive of all LFW people) from 127.0.0.1, unpacked, every face found, "
            f"embedded and the model trained and scored. Target ≤ 90 s. Load {g['load_before']} → {g['load_after']}.",
            "",
        ]
    notes = [f"- **{key}**: {entry['notes']}" for key, entry in labels.items() if entry.get("notes")]
    if notes:
        lines += ["## What the false boxes were", "", *notes, ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print(f"wrote {out}.md")


def false_boxes(labels: dict, key: str, row: dict) -> str:
    """'k of n' boxes judged false by looking, or 'not looked at' (labels from detect_false_boxes.json)."""
    entry = labels.get(key)
    if entry is None or entry.get("boxes") != row.get("sheet_boxes"):
        return "not looked at"
    return f"{len(entry['false'])} of {entry['boxes']}"


if __name__ == "__main__":
    main()
