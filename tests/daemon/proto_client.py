#!/usr/bin/python3
"""A zxvmd client written from proto/zxvm/v1/hypervisor.proto alone, in Python.

Proves the .proto is the whole wire contract: the Python code is generated here, at test time,
with grpc_tools.protoc (Debian's python3-grpc-tools) into a temporary directory, and the client
uses nothing else. It opens an ephemeral session and holds its Lease, creates a guest and a
2 MiB VMO, writes identity page tables for the first 2 MiB at GPA 0 (spec §5.1: the BSP starts
in long mode with CR3 = 0) and a two-instruction guest at 0x10000, maps the VMO at GPA 0, traps
IO port 0x10, creates the VCPU (bound to zxvm-thread 1), enters with the unary VcpuEnter and
expects the IO packet with 0x1234, then reads the registers: ax holds 0x1234.

Usage: proto_client.py PROTO_ROOT (the folder holding zxvm/v1/hypervisor.proto). Target and TLS
files come from ZXVM_TEST_TARGET and ZXVM_TLS_*. Exit 0 when every check passed, 1 when one
failed, 77 when grpc_tools is missing.
"""
import os
import struct
import sys
import tempfile

from wirecheck import Checks, channel, grpc

GUEST_RAM = 2 << 20
ENTRY = 0x10000
PORT = 0x10
KEY = 0x5ca1ab1e
ZX_VM_PERM_RWX_SPECIFIC = 0x1 | 0x2 | 0x4 | 0x10  # READ | WRITE | EXECUTE | SPECIFIC
ZX_GUEST_TRAP_IO = 2
ZX_PKT_TYPE_GUEST_IO = 5
ZX_VCPU_STATE = 0
ZX_ERR_INVALID_ARGS = -10
ZX_ERR_WRONG_TYPE = -12
SIZEOF_VCPU_STATE = 136
# mov $0x1234, %ax; out %ax, $0x10; then a jump to itself, never reached.
GUEST_CODE = bytes([0x66, 0xB8, 0x34, 0x12, 0x66, 0xE7, PORT, 0xEB, 0xFE])

def show(v):
    """Numbers past 9 in hex (ports, keys, register values), also inside tuples."""
    if isinstance(v, tuple):
        return "(" + ", ".join(show(x) for x in v) + ")"
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 9:
        return hex(v)
    return repr(v)


checks = Checks(show)
check = checks.check


def generate(proto_root, out):
    try:
        from grpc_tools import protoc
    except ImportError:
        print("skipped: no grpc_tools (Debian package python3-grpc-tools)")
        sys.exit(77)
    args = ["protoc", f"-I{proto_root}", f"--python_out={out}", f"--grpc_python_out={out}",
            os.path.join(proto_root, "zxvm/v1/hypervisor.proto")]
    if protoc.main(args) != 0:
        print(f"grpc_tools.protoc failed on {args[-1]}")
        sys.exit(1)
    sys.path.insert(0, out)


def page_tables():
    """PML4 at 0 -> PDPT at 0x1000 -> PD at 0x2000 -> one 2 MiB page at 0 (P|RW|PS)."""
    pt = bytearray(0x3000)
    struct.pack_into("<Q", pt, 0x0000, 0x1000 | 0x3)
    struct.pack_into("<Q", pt, 0x1000, 0x2000 | 0x3)
    struct.pack_into("<Q", pt, 0x2000, 0x0 | 0x83)
    return bytes(pt)


def run(pb, rpc):
    ch = channel()
    hv = rpc.HypervisorStub(ch)
    s = hv.OpenSession(pb.OpenSessionRequest(), timeout=20)
    if not check("OpenSession status", 0, s.status) or not check("resource", True,
                                                                 s.hypervisor_resource != 0):
        return
    md = (("zxvm-session", s.token), ("zxvm-thread", "1"))
    lease = hv.Lease(pb.LeaseRequest(), metadata=md)
    try:
        guest(pb, hv, md, s.hypervisor_resource)
    finally:
        lease.cancel()
        ch.close()


def guest(pb, hv, md, resource):
    def call(name, req):
        resp = getattr(hv, name)(req, metadata=md, timeout=20)
        check(f"{name} status", 0, resp.status)
        return resp

    g = call("GuestCreate", pb.GuestCreateRequest(resource=resource, options=0))
    vmo = call("VmoCreate", pb.VmoCreateRequest(size=GUEST_RAM)).handle
    vmo = call("VmoReplaceAsExecutable", pb.VmoReplaceAsExecutableRequest(vmo=vmo)).handle
    call("VmoWrite", pb.VmoWriteRequest(vmo=vmo, offset=0, data=page_tables()))
    call("VmoWrite", pb.VmoWriteRequest(vmo=vmo, offset=ENTRY, data=GUEST_CODE))
    m = call("VmarMap", pb.VmarMapRequest(vmar=g.vmar, options=ZX_VM_PERM_RWX_SPECIFIC,
                                           vmar_offset=0, vmo=vmo, vmo_offset=0, len=GUEST_RAM))
    check("mapped_addr", 0, m.mapped_addr)
    call("GuestSetTrap", pb.GuestSetTrapRequest(guest=g.guest, kind=ZX_GUEST_TRAP_IO, addr=PORT,
                                                size=1, port=0, key=KEY))
    vcpu = call("VcpuCreate", pb.VcpuCreateRequest(guest=g.guest, options=0, entry=ENTRY)).handle

    # no_packet: every check of the call, then INVALID_ARGS, and the guest does not run.
    n = hv.VcpuEnter(pb.VcpuEnterRequest(vcpu=vcpu, no_packet=True), metadata=md, timeout=20)
    check("VcpuEnter no_packet status", ZX_ERR_INVALID_ARGS, n.status)
    n = hv.VcpuEnter(pb.VcpuEnterRequest(vcpu=vmo, no_packet=True), metadata=md, timeout=20)
    check("VcpuEnter no_packet on a VMO handle", ZX_ERR_WRONG_TYPE, n.status)

    e = call("VcpuEnter", pb.VcpuEnterRequest(vcpu=vcpu))
    p = e.packet
    check("packet (type, key)", (ZX_PKT_TYPE_GUEST_IO, KEY), (p.type, p.key))
    check("guest_io (port, access_size, input, data)", (PORT, 2, False, 0x1234),
          (p.guest_io.port, p.guest_io.access_size, p.guest_io.input, p.guest_io.data))

    r = call("VcpuReadState", pb.VcpuReadStateRequest(vcpu=vcpu, kind=ZX_VCPU_STATE,
                                                      buffer_size=SIZEOF_VCPU_STATE))
    check("rax & 0xffff", 0x1234, r.state.rax & 0xFFFF)

    for h in (vcpu, vmo, g.vmar, g.guest):
        call("HandleClose", pb.HandleRequest(handle=h))


def main():
    if len(sys.argv) != 2:
        print("usage: proto_client.py PROTO_ROOT", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as out:
        generate(sys.argv[1], out)
        from zxvm.v1 import hypervisor_pb2, hypervisor_pb2_grpc
        try:
            run(hypervisor_pb2, hypervisor_pb2_grpc)
        except grpc.RpcError as e:
            check("gRPC status", grpc.StatusCode.OK, e.code())
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
