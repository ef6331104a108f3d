"""An emulated aarch64 Python for checking bundles as a phone's CPU runs them, built from Debian's
and PyPI's packages and cached (``$LITEFORMER_ARM_CACHE``, default ``~/.cache/liteformer/aarch64``):

- **qemu**: ``qemu-aarch64-static`` from the PATH, else Debian's ``qemu-user-static`` package fetched
  with ``apt-get download`` and unpacked (``dpkg -x``) — no installation, no binfmt registration: the
  emulator is called explicitly, with a pinned CPU model (``neoverse-n1``: qemu 7.2's default ``max``
  model emulates SME, whose int8 results are wrong);
- **root**: Debian bookworm's arm64 ``python3.11-minimal`` and ``libpython3.11-stdlib`` with every
  library they need (and ``libstdc++6`` for the runtimes), resolved from the archive's index and each
  package checked against its SHA-256 there, unpacked with ``dpkg -x``;
- **site**: the runtimes' aarch64 wheels at the versions installed here (``pip download --platform
  manylinux_2_xx_aarch64 --only-binary=:all:``), numpy and tokenizers, unpacked by ``pip install
  --target``; liteformer itself is pure Python and comes from this checkout.

LiteRT reads ``/proc/cpuinfo`` when an interpreter starts and crashes on an x86 one under emulation:
the process runs in its own mount namespace (``unshare -m``, root only) with an aarch64 cpuinfo bound
over it. Where any of this cannot be had (no apt, no network, not root), ``why_not()`` says so in a line.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from liteformer.errors import LiteformerError

MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
ROOT_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6", "libgcc-s1")
SKIP = {"debconf", "dpkg", "perl-base", "install-info", "tzdata", "libc-bin", "readline-common", "debianutils",
        "debconf-2.0", "base-files"}
CPU = "neoverse-n1"
WHEELS = {"onnx": ("onnxruntime",), "litert": ("ai-edge-litert",)}  # ExecuTorch's needs PyTorch: see check.py
COMMON_WHEELS = ("numpy", "tokenizers")
PLATFORMS = ["manylinux2014_aarch64"] + [f"manylinux_2_{v}_aarch64" for v in range(17, 37)]
CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

"""


def cache_dir() -> Path:
    return Path(os.environ.get("LITEFORMER_ARM_CACHE") or Path.home() / ".cache" / "liteformer" / "aarch64")


@dataclass
class ArmEnv:
    qemu: Path
    root: Path
    site: Path
    cpuinfo: Path

    @property
    def python(self) -> Path:
        return self.root / "usr" / "bin" / "python3.11"

    def command(self, args: list[str], cpu: str = CPU) -> list[str]:
        """``args`` (a script and its arguments) run by the emulated Python, with ``cpu`` as the CPU model."""
        inner = [str(self.qemu), "-L", str(self.root), "-cpu", cpu, str(self.python), *args]
        if os.geteuid() == 0 and shutil.which("unshare"):  # an aarch64 /proc/cpuinfo for LiteRT
            script = f'mount --bind "{self.cpuinfo}" /proc/cpuinfo && exec "$@"'
            return ["unshare", "-m", "sh", "-c", script, "sh", *inner]
        return inner

    def environ(self) -> dict:
        checkout = str(Path(__file__).resolve().parents[2])
        keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TERM", "TMPDIR")}
        return {**keep, "PYTHONPATH": f"{checkout}{os.pathsep}{self.site}", "PYTHONNOUSERSITE": "1",
                "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "LITEFORMER_ISOLATED": "1"}


def why_not() -> str | None:
    """One line saying why the emulated environment cannot be built here, or None."""
    if sys.platform != "linux":
        return "aarch64 emulation needs Linux (qemu user mode)"
    if not _qemu_on_path() and not shutil.which("apt-get"):
        return "no qemu-aarch64 and no apt-get to fetch Debian's qemu-user-static"
    if not shutil.which("dpkg"):
        return "no dpkg to unpack Debian packages"
    return None


def _qemu_on_path() -> Path | None:
    found = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    return Path(found) if found else None


def ensure(runtimes: tuple[str, ...] = ("onnx", "litert"), log=print) -> ArmEnv:
    """The cached environment, built (or completed: another runtime's wheels) on first use."""
    reason = why_not()
    if reason:
        raise LiteformerError(f"aarch64 check unavailable: {reason}")
    base = cache_dir()
    base.mkdir(parents=True, exist_ok=True)
    import fcntl
    with open(base / ".lock", "w") as lock:  # one builder at a time (parallel test workers, two commands)
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure(base, runtimes, log)


def _ensure(base: Path, runtimes: tuple[str, ...], log) -> ArmEnv:
    qemu = _qemu_on_path() or _fetch_qemu(base / "qemu", log)
    root = base / "root"
    if not (root / ".complete").exists():
        _build_root(root, base / "debs", log)
    site = base / "site"
    for rt in ("common", *runtimes):
        _install_wheels(site, rt, log)
    cpuinfo = base / "cpuinfo"
    if not cpuinfo.exists():
        cpuinfo.write_text(CPUINFO)
    return ArmEnv(qemu, root, site, cpuinfo)


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        tail = (r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or ["no output"])[-1][:300]
        raise LiteformerError(f"aarch64 set-up: {what} failed ({tail})")


def _fetch_qemu(folder: Path, log) -> Path:
    exe = folder / "usr" / "bin" / "qemu-aarch64-static"
    if exe.exists():
        return exe
    log("aarch64 set-up: fetching Debian's qemu-user-static (about 60 MB)")
    with tempfile.TemporaryDirectory() as tmp:
        _run(["apt-get", "download", "qemu-user-static"], "apt-get download qemu-user-static", Path(tmp))
        deb = next(Path(tmp).glob("qemu-user-static_*.deb"))
        staging = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        _run(["dpkg", "-x", str(deb), str(staging)], "dpkg -x qemu-user-static")
        for other in (staging / "usr").rglob("*"):  # the package holds every target's emulator (~370 MB):
            if other.is_file() and other.name != exe.name:  # keep the aarch64 one (~10 MB)
                other.unlink()
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    return exe


def _index(debs: Path) -> dict[str, dict]:
    """The archive's arm64 package index: name -> {Filename, SHA256, Depends, ...}."""
    path = debs / "Packages.xz"
    if not path.exists():
        debs.mkdir(parents=True, exist_ok=True)
        _download(f"{MIRROR}/dists/{SUITE}/main/binary-arm64/Packages.xz", path)
    out: dict[str, dict] = {}
    for block in lzma.decompress(path.read_bytes()).decode("utf-8", "replace").split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", block, flags=re.M))
        if "Package" in fields:
            out.setdefault(fields["Package"], fields)
            for p in fields.get("Provides", "").split(","):
                name = p.split("(")[0].strip()
                if name:
                    out.setdefault(name, fields)
    return out


def resolve(index: dict[str, dict], wanted: tuple[str, ...]) -> list[dict]:
    """``wanted`` and everything they depend on (Depends and Pre-Depends; the first alternative that
    exists), without the packages a Python process never touches (``SKIP``)."""
    seen: dict[str, dict] = {}
    todo = list(wanted)
    while todo:
        name = todo.pop()
        if name in SKIP or name in seen:
            continue
        if name not in index:
            raise LiteformerError(f"aarch64 set-up: Debian {SUITE} arm64 has no package {name!r}")
        pkg = index[name]
        seen[name] = pkg
        seen.setdefault(pkg["Package"], pkg)
        for field in ("Pre-Depends", "Depends"):
            for dep in filter(None, (d.strip() for d in pkg.get(field, "").split(","))):
                options = [re.split(r"[\s(:]", alt.strip())[0] for alt in dep.split("|")]
                pick = next((o for o in options if o in index and o not in SKIP), None)
                if pick and pick not in seen:
                    todo.append(pick)
    unique = {p["Package"]: p for p in seen.values()}
    return [unique[k] for k in sorted(unique)]


def _build_root(root: Path, debs: Path, log) -> None:
    packages = resolve(_index(debs), ROOT_PACKAGES)
    log(f"aarch64 set-up: {len(packages)} Debian arm64 packages for Python 3.11")
    staging = root.with_name(root.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for pkg in packages:
        deb = debs / Path(pkg["Filename"]).name
        if not deb.exists() or hashlib.sha256(deb.read_bytes()).hexdigest() != pkg["SHA256"]:
            _download(f"{MIRROR}/{pkg['Filename']}", deb)
            if hashlib.sha256(deb.read_bytes()).hexdigest() != pkg["SHA256"]:
                raise LiteformerError(f"aarch64 set-up: {deb.name}: its SHA-256 differs from the archive's index")
        _run(["dpkg", "-x", str(deb), str(staging)], f"dpkg -x {deb.name}")
    (staging / ".complete").write_text("\n".join(p["Package"] for p in packages) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)


def _download(url: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=120) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as e:
        raise LiteformerError(f"aarch64 set-up: cannot download {url} ({e})") from None
    tmp.replace(path)


def wheel_specs(runtime: str) -> list[str]:
    """``name==version`` of the wheels a runtime needs, at the versions installed here."""
    names = COMMON_WHEELS if runtime == "common" else WHEELS[runtime]
    specs = []
    for name in names:
        try:
            specs.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise LiteformerError(f"aarch64 set-up: {name} is not installed here (its aarch64 wheel is taken at "
                                  "the same version)") from None
    return specs


def _install_wheels(site: Path, runtime: str, log) -> None:
    marker = site / f".{runtime}"
    specs = wheel_specs(runtime)
    if marker.exists() and marker.read_text().split() == specs:
        return
    log(f"aarch64 set-up: aarch64 wheels {' '.join(specs)}")
    plat = [x for p in PLATFORMS for x in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--target", str(site), "--no-deps", "--only-binary=:all:",
           *plat, "--python-version", "3.11", "--implementation", "cp", "--upgrade", *specs]
    _run(cmd, f"pip install (aarch64) {' '.join(specs)}")
    marker.write_text(" ".join(specs) + "\n")
