"""What the python3-grpcio tests share (wire_errors.py, proto_client.py, faults/tls_refusal.py):
the grpc import (exit 77 without it), check counters that print one line per check, and the
channel to the daemon that ZXVM_TEST_TARGET and ZXVM_TLS_* name, as for the C clients."""
import os
import sys

try:
    import grpc
except ImportError:
    print("skipped: no grpc module for this python (Debian package python3-grpcio)")
    sys.exit(77)

SERVICE = "/zxvm.v1.Hypervisor/"
TIMEOUT = 20  # seconds, for every call


def show(v):
    """Status codes by name, also inside tuples."""
    if isinstance(v, tuple):
        return "(" + ", ".join(show(x) for x in v) + ")"
    return v.name if isinstance(v, grpc.StatusCode) else repr(v)


class Checks:
    """check(what, expected, actual) prints "ok"/"FAIL" and counts; report() ends the run."""

    def __init__(self, show=show):
        self.show = show
        self.passes = self.failures = 0

    def check(self, what, expected, actual):
        ok = expected == actual
        self.passes += ok
        self.failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: expected {self.show(expected)}, "
              f"got {self.show(actual)}", flush=True)
        return ok

    def report(self):
        """Print the totals; the exit status: 0 when checks ran and every one passed, else 1."""
        print(f"{self.passes} passed, {self.failures} failed")
        return 1 if self.failures or not self.passes else 0


def read(path):
    with open(path, "rb") as f:
        return f.read()


def secure_channel(target, ca, key=None, cert=None):
    creds = grpc.ssl_channel_credentials(ca, key, cert)
    name = os.environ.get("ZXVM_TLS_SERVER_NAME", "localhost")
    return grpc.secure_channel(target, creds, [("grpc.ssl_target_name_override", name)])


def channel():
    """The daemon of ZXVM_TEST_TARGET: a unix socket, or TCP with the ZXVM_TLS_* files."""
    target = os.environ["ZXVM_TEST_TARGET"]
    if target.startswith("unix:"):
        return grpc.insecure_channel(target)
    return secure_channel(target, read(os.environ["ZXVM_TLS_CA"]),
                          read(os.environ["ZXVM_TLS_KEY"]), read(os.environ["ZXVM_TLS_CERT"]))
