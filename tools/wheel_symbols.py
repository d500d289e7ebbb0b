"""Check that a wheel's manylinux tag is true: the newest GLIBC_/GLIBCXX_/CXXABI_ symbol versions its ELF files
need must not exceed what the tag promises, and every ELF file must be built for the tag's architecture.

    python tools/wheel_symbols.py WHEEL...      (exit 1 naming the file and symbols when a tag is not met)

Independent of auditwheel (which chose the tag): it reads the version-needs of each .so with pyelftools.
"""
from __future__ import annotations

import io
import re
import sys
import zipfile

from elftools.elf.elffile import ELFFile

# The newest libstdc++ versions each manylinux glibc baseline allows (the manylinux policies, as in auditwheel's
# manylinux-policy.json): glibc baseline -> (GLIBCXX, CXXABI).
CXX_LIMITS = [((2, 17), ("3.4.19", "1.3.7")), ((2, 28), ("3.4.24", "1.3.11")), ((2, 31), ("3.4.28", "1.3.12")),
              ((2, 34), ("3.4.29", "1.3.13")), ((2, 35), ("3.4.30", "1.3.13")), ((2, 39), ("3.4.33", "1.3.15"))]
ELF_MACHINE = {"x86_64": "EM_X86_64", "aarch64": "EM_AARCH64"}


def version(text: str) -> tuple:
    return tuple(int(x) for x in text.split("."))


def wheel_platforms(name: str) -> list:
    """(glibc, arch) for each platform tag in a wheel file name; manylinux2014 is manylinux_2_17."""
    legacy = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
    out = []
    for plat in name[:-len(".whl")].split("-")[-1].split("."):
        m = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", plat)
        if m:
            out.append(((int(m[1]), int(m[2])), m[3]))
        elif plat.split("_", 1)[0] in legacy:
            out.append((legacy[plat.split("_", 1)[0]], plat.split("_", 1)[1]))
        else:
            raise SystemExit(f"{name}: platform tag {plat!r} is not a manylinux tag; run auditwheel repair first")
    return out


def needed_versions(elf: ELFFile) -> dict:
    """{'GLIBC_2.34': ['pthread_create', ...], ...}: every version the file needs, with the symbols that need it."""
    verneed = elf.get_section_by_name(".gnu.version_r")
    if verneed is None:
        return {}
    names = {aux["vna_other"]: aux.name for _, auxes in verneed.iter_versions() for aux in auxes}
    out = {name: [] for name in names.values()}
    dynsym, versym = elf.get_section_by_name(".dynsym"), elf.get_section_by_name(".gnu.version")
    if dynsym is not None and versym is not None:
        for i, sym in enumerate(dynsym.iter_symbols()):
            ndx = versym.get_symbol(i)["ndx"]
            if sym["st_shndx"] == "SHN_UNDEF" and isinstance(ndx, int) and ndx in names:
                out[names[ndx]].append(sym.name)
    return out


def newest(needs: dict, prefix: str):
    found = [version(n[len(prefix):]) for n in needs if re.fullmatch(re.escape(prefix) + r"[\d.]+", n)]
    return max(found) if found else None


def check_wheel(path: str) -> list:
    """Problems found (empty: the tag is true); prints what each ELF file needs."""
    problems = []
    platforms = wheel_platforms(path.rsplit("/", 1)[-1])
    with zipfile.ZipFile(path) as whl:
        for info in whl.infolist():
            data = whl.read(info)
            if not data.startswith(b"\x7fELF"):
                continue
            elf = ELFFile(io.BytesIO(data))
            needs = needed_versions(elf)
            dynamic = elf.get_section_by_name(".dynamic")
            libs = [t.needed for t in dynamic.iter_tags("DT_NEEDED")] if dynamic is not None else []
            print(f"{info.filename}: links {', '.join(libs) or 'nothing'}")
            top = {prefix: newest(needs, prefix) for prefix in ("GLIBC_", "GLIBCXX_", "CXXABI_")}
            # the three newest versions of each library, with (some of) the symbols that need them
            for prefix in top:
                versions = sorted((version(n[len(prefix):]), n) for n in needs
                                  if re.fullmatch(re.escape(prefix) + r"[\d.]+", n))
                shown = [f"{n} ({', '.join(sorted(needs[n])[:4]) or 'version only'})" for _, n in versions[:-4:-1]]
                if shown:
                    print(f"{info.filename}: needs {'; '.join(shown)}")
            for (glibc, arch) in platforms:
                tag = f"manylinux_{glibc[0]}_{glibc[1]}_{arch}"
                if elf["e_machine"] != ELF_MACHINE.get(arch):
                    problems.append(f"{info.filename} is {elf['e_machine']}, the tag says {arch}")
                if top["GLIBC_"] and top["GLIBC_"] > glibc:
                    problems.append(f"{info.filename} needs GLIBC_{'.'.join(map(str, top['GLIBC_']))}, "
                                    f"newer than {tag} allows")
                cxx = [limits for base, limits in CXX_LIMITS if base <= glibc]
                allowed = cxx[-1] if cxx else ("0", "0")
                for prefix, limit in (("GLIBCXX_", allowed[0]), ("CXXABI_", allowed[1])):
                    if top[prefix] and top[prefix] > version(limit):
                        problems.append(f"{info.filename} needs {prefix}{'.'.join(map(str, top[prefix]))}, "
                                        f"{tag} allows up to {prefix}{limit}")
    return problems


def main(argv: list) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    failed = False
    for path in argv:
        problems = check_wheel(path)
        for p in problems:
            print(f"{path}: {p}", file=sys.stderr)
        print(f"{path}: {'TAG NOT MET' if problems else 'tag ok'}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
