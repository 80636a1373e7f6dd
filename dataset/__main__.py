"""Command line: ``python -m dataset download [--name fashion-mnist]`` and ``python -m dataset info``.

``download`` fetches and verifies a dataset and builds its array cache. ``info`` says, for each dataset,
where its files are, which source each came from, and re-checks every byte: the SHA-256 of each file
and the cached arrays against a fresh parse of the files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .idx import parse_idx
from .mnist import download
from .sources import DatasetUnavailableError
from .specs import REGISTRY, DatasetSpec, get_spec
from .store import array_path, cache_root, candidates, open_array, read_manifest, verify_blob


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def info_lines(spec: DatasetSpec, folder: Path) -> tuple[list[str], bool]:
    """Describe and re-verify one dataset's cache; return (lines, whether everything present is valid)."""
    lines = [f"{spec.title} ({spec.name}) in {folder}"]
    if not folder.is_dir():
        return lines + [f"  not downloaded: python -m dataset download --name {spec.name}"], True
    manifest = read_manifest(folder)["files"]
    ok = True
    for f in spec.files:
        present = [p for p in candidates(folder, f) if p.is_file()]
        if not present:
            lines.append(f"  {f.filename}: missing")
            continue
        path = present[0]
        blob = path.read_bytes()
        origin = manifest.get(f.filename, {}).get("source", "unknown (placed by hand?)")
        try:
            data = verify_blob(blob, f, origin=str(path))
        except ValueError as e:
            lines.append(f"  {path.name}: FAILED: {e}")
            ok = False
            continue
        lines.append(f"  {path.name}: {_mib(len(blob))}, SHA-256 verified, from {origin}")
        x = parse_idx(data, name=path.name, shape=f.shape)
        for dtype, expected in (("uint8", x), ("float32", None)):
            apath = array_path(folder, f, dtype)
            if not apath.is_file():
                continue
            cached = open_array(apath, np.dtype(dtype), f.shape)
            if expected is None:
                expected = np.divide(x, np.float32(255), dtype=np.float32)
            if cached is not None and np.array_equal(cached, expected):
                lines.append(f"    arrays/{apath.name}: {_mib(apath.stat().st_size)}, matches")
            else:
                lines.append(f"    arrays/{apath.name}: FAILED: does not match {path.name} (delete it)")
                ok = False
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dataset", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_download = sub.add_parser("download", help="fetch, verify and cache a dataset")
    p_download.add_argument("--name", default="mnist", choices=sorted(REGISTRY))
    p_info = sub.add_parser("info", help="where the files are, where they came from, re-verified")
    p_info.add_argument("--name", choices=sorted(REGISTRY), help="one dataset (default: all)")
    for p in (p_download, p_info):
        p.add_argument(
            "--data-dir",
            help="cache root (default: $SCRATCHNET_DATA, $XDG_CACHE_HOME/scratchnet or ~/.cache/scratchnet)",
        )
    p_download.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    if args.command == "download":
        spec = get_spec(args.name)
        try:
            result = download(spec, data_dir=args.data_dir, progress=False if args.quiet else None)
        except DatasetUnavailableError as e:
            print(e, file=sys.stderr)
            return 1
        print(f"{spec.title}: {len(spec.files)} files verified in {cache_root(args.data_dir) / spec.name}")
        for f in spec.files:
            print(f"  {f.filename}: from {result.origins[f.filename]}")
        return 0

    specs = [get_spec(args.name)] if args.name else list(REGISTRY.values())
    all_ok = True
    for spec in specs:
        lines, ok = info_lines(spec, cache_root(args.data_dir) / spec.name)
        print("\n".join(lines))
        all_ok &= ok
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
