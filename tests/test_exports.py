"""What the installed wheel is. It holds the Python package only (the C++ headers, archive and
CMake package config are installed by `cmake --install`, not by pip), and the extension module
exports only its init function (Note [module visibility] in CMakeLists.txt): before, ~1,300
internal C++ symbols (engine, pybind11, standard library instantiations) were exported, free
for any other extension loaded in the same process to bind to or collide with."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys

import pytest
import tapegrad._core as core

# What Python needs from the module: its init function. Nothing else may be exported, not
# even the linker's own _init/_fini (an ELF module reaches those through DT_INIT/DT_FINI, not
# the dynamic symbol table).
EXPECTED_EXPORTS = {"PyInit__core"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF dynamic symbol table")
@pytest.mark.skipif(shutil.which("nm") is None, reason="needs nm (binutils)")
def test_module_exports_only_its_init_symbol() -> None:
    out = subprocess.run(["nm", "-D", "--defined-only", core.__file__],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    # Lines are "address type name"; the name is the last field.
    exported = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert exported == EXPECTED_EXPORTS, (
        f"{core.__file__} exports {len(exported)} symbols; unexpected: "
        f"{sorted(exported - EXPECTED_EXPORTS)[:20]}")


def test_wheel_installs_only_the_package() -> None:
    try:
        files = importlib.metadata.files("tapegrad")
    except importlib.metadata.PackageNotFoundError:
        files = None
    if files is None:
        pytest.skip("tapegrad is not installed from a distribution (no RECORD)")
    scripts = {ep.name for ep in importlib.metadata.entry_points(group="console_scripts")
               if ep.value.startswith("tapegrad.")}
    stray = []
    for f in files:
        top = f.parts[0]
        if top == "tapegrad" or top.endswith(".dist-info"):
            continue
        # The console script, installed next to the interpreter (bin/ or Scripts\).
        if f.parent.name in ("bin", "Scripts") and f.stem in scripts:
            continue
        stray.append(str(f))
    assert not stray, f"the wheel installs files outside the package: {stray[:20]}"


def _elf_tls_size(path: str) -> int:
    """p_memsz of an ELF64 little-endian file's PT_TLS program header (0 if none)."""
    import struct

    with open(path, "rb") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1, "not ELF64 LE"
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", table, i * phentsize)
        if p_type == 7:  # PT_TLS
            return struct.unpack_from("<Q", table, i * phentsize + 40)[0]
    return 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF program headers")
def test_module_thread_local_block_is_small() -> None:
    """Note [thread-local access] (CMakeLists.txt): the loader puts the module's thread-local
    block in the static TLS reserve (each read an offset from the thread pointer, no call)
    only when it fits in what is left of a few hundred bytes. Per-thread state larger than a
    pointer or a flag lives on the heap; this keeps a new `thread_local` array from quietly
    putting every op back on __tls_get_addr."""
    size = _elf_tls_size(core.__file__)
    assert size <= 384, f"{core.__file__}: thread-local block of {size} bytes"
