#!/usr/bin/python3
"""Malformed, oversized and unauthenticated requests to zxvmd, from python3-grpcio.

The proto's rule (proto/zxvm/v1/hypervisor.proto, "Status"): gRPC status codes are for
transport, authentication and malformed requests only. So bytes that do not decode are
INVALID_ARGUMENT, a message over the daemon's limit (16 MiB by default) is RESOURCE_EXHAUSTED,
a call without a session token or with an unknown one is UNAUTHENTICATED, an unknown method is
UNIMPLEMENTED; and the daemon goes on serving (health check, a new session, a call on it).

Messages are raw bytes here, encoded and decoded by the few lines below, so that this needs
nothing but grpcio. Target and TLS files come from ZXVM_TEST_TARGET and ZXVM_TLS_* as for the
C clients. Exit 0 when every check passed, 1 otherwise; each check prints one line.
"""
import sys

from wirecheck import SERVICE, TIMEOUT, Checks, channel, grpc

checks = Checks()
check = checks.check


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    """Field number -> value of a protobuf message (varints and length-delimited only)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        if key & 7 == 0:
            out[key >> 3], i = varint(buf, i)
        elif key & 7 == 2:
            n, i = varint(buf, i)
            out[key >> 3], i = buf[i:i + n], i + n
        else:
            raise ValueError(f"wire type {key & 7}")
    return out


def call(ch, path, payload, md=None):
    """(gRPC status code, response bytes or details) of one unary call."""
    stub = ch.unary_unary(path, request_serializer=None, response_deserializer=None)
    try:
        return grpc.StatusCode.OK, stub(payload, metadata=md, timeout=TIMEOUT)
    except grpc.RpcError as e:
        return e.code(), e.details()


def open_session(ch):
    code, resp = call(ch, SERVICE + "OpenSession", b"")  # OpenSessionRequest{}: ephemeral
    check("OpenSession", grpc.StatusCode.OK, code)
    f = fields(resp) if code == grpc.StatusCode.OK else {}
    token = f.get(2, b"").decode()
    check("OpenSession token length", 32, len(token))
    md = (("zxvm-session", token), ("zxvm-thread", "1"))
    # The Lease keeps the ephemeral session for as long as this process holds it.
    lease = ch.unary_stream(SERVICE + "Lease", request_serializer=None,
                            response_deserializer=None)(b"", metadata=md)
    return md, lease


def main():
    ch = channel()
    md, lease = open_session(ch)

    # Field 1 (vcpu, a varint) sent as a length-delimited field that claims 2^32 bytes.
    garbage = b"\x0a\xff\xff\xff\xff\x0f\x00\x01"
    code, _ = call(ch, SERVICE + "VcpuEnter", garbage, md)
    check("VcpuEnter with undecodable bytes", grpc.StatusCode.INVALID_ARGUMENT, code)
    code, _ = call(ch, SERVICE + "VmoCreate", b"\x08", md)  # a tag without its value
    check("VmoCreate with a truncated message", grpc.StatusCode.INVALID_ARGUMENT, code)
    stream = ch.stream_stream(SERVICE + "VcpuStream", request_serializer=None,
                              response_deserializer=None)
    try:
        replies = list(stream(iter([garbage]), metadata=md, timeout=TIMEOUT))
        check("VcpuStream with undecodable bytes", grpc.StatusCode.INVALID_ARGUMENT,
              f"OK with {len(replies)} replies")
    except grpc.RpcError as e:
        check("VcpuStream with undecodable bytes", grpc.StatusCode.INVALID_ARGUMENT, e.code())

    # VmoWriteRequest{vmo: 1, offset: 0, data: 20 MiB}: over the daemon's 16 MiB limit.
    big = 20 << 20
    payload = b"\x08\x01\x1a" + bytes([0x80, 0x80, 0x80, 0x0a]) + bytes(big)
    assert (0x0a << 21) == big
    code, details = call(ch, SERVICE + "VmoWrite", payload, md)
    # The daemon's limit, not the client's: the details are the receiver's.
    check("VmoWrite of 20 MiB", (grpc.StatusCode.RESOURCE_EXHAUSTED, True),
          (code, "Received message larger than max" in str(details)))

    code, _ = call(ch, SERVICE + "VmoCreate", b"\x08\x80\x20")  # size 4096, no metadata
    check("VmoCreate without a session token", grpc.StatusCode.UNAUTHENTICATED, code)
    code, _ = call(ch, SERVICE + "VmoCreate", b"\x08\x80\x20",
                   (("zxvm-session", "0" * 32), ("zxvm-thread", "1")))
    check("VmoCreate with an unknown token", grpc.StatusCode.UNAUTHENTICATED, code)
    code, _ = call(ch, SERVICE + "NoSuchCall", b"", md)
    check("an unknown method", grpc.StatusCode.UNIMPLEMENTED, code)

    # Still serving: health, and a real call on the session (status 0 is an absent field 1).
    code, resp = call(ch, "/grpc.health.v1.Health/Check", b"")
    check("health check", (grpc.StatusCode.OK, {1: 1}),
          (code, fields(resp) if code == grpc.StatusCode.OK else resp))
    code, resp = call(ch, SERVICE + "VmoCreate", b"\x08\x80\x20", md)
    f = fields(resp) if code == grpc.StatusCode.OK else {}
    check("VmoCreate afterwards", (grpc.StatusCode.OK, 0, True),
          (code, f.get(1, 0), f.get(2, 0) != 0))
    md2, lease2 = open_session(ch)
    lease2.cancel()
    lease.cancel()
    ch.close()
    return checks.report()


if __name__ == "__main__":
    sys.exit(main())
