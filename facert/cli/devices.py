"""`facert devices`: the OpenCL platforms and devices facert can use, their capabilities, and which
precision variant each device gets. The CPU backend is always available and listed first."""
from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("devices", help="list compute devices (CPU, OpenCL) and the kernel variant each gets")
    p.add_argument("--json", action="store_true", help="print the OpenCL device list as JSON")
    p.add_argument("--check", action="store_true",
                   help="also build the kernels on each OpenCL device (using the binary cache) and run a tiny network")
    p.set_defaults(func=run)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _format_device(d: dict) -> list:
    return [
        f"  [{d['index']}] {d['name']} ({d['type']}, {d['vendor']})",
        f"      platform:       {d['platform']} ({d['platform_version']})",
        f"      OpenCL:         {d['version']}, {d['opencl_c_version']}, driver {d['driver_version']}",
        f"      compute units:  {d['compute_units']} @ {d['max_clock_mhz']} MHz, max work-group {d['max_work_group_size']}",
        f"      memory:         global {_mib(d['global_mem_bytes'])}, local {d['local_mem_bytes'] // 1024} KiB, "
        f"max alloc {_mib(d['max_alloc_bytes'])}",
        f"      images:         {'yes' if d['image_support'] else 'no'};  cl_khr_fp16: {'yes' if d['fp16'] else 'no'}",
        f"      precision fp32: {d['precision_variants']['fp32']}",
        f"      precision fp16: {d['precision_variants']['fp16']}",
    ]


def run(args) -> int:
    from facert import _core

    devices = _core.opencl_devices()
    status = _core.opencl_status()
    if args.json and not args.check:
        print(json.dumps({"status": status, "devices": devices}, indent=2))
        return 0
    print("cpu: always available (facert.Engine(device='cpu'))")
    if not devices:
        print(f"opencl: not available: {status['reason']}")
        print("  device='auto' uses the CPU; device='gpu' raises facert.DeviceError")
        return 0
    print(f"opencl: {len(devices)} device(s) via {status['library']}; device='gpu' uses [{status['default_device']}]")
    failed = 0
    for d in devices:
        print("\n".join(_format_device(d)))
        if args.check:
            for precision in ("fp32", "fp16"):
                try:
                    r = _core.opencl_probe(d["index"], precision)
                except _core.DeviceError as exc:
                    failed += 1
                    print(f"      check {precision}:     FAILED: {exc}", file=sys.stderr)
                    continue
                source = "cached binary" if r["program_from_cache"] else f"built from source ({r['cache_miss_reason']})"
                print(f"      check {precision}:     ok, kernels {source} in {r['program_ms']:.0f} ms, "
                      f"engine ready in {r['create_ms']:.0f} ms")
    return 1 if failed else 0
