#!/usr/bin/python3
"""zxvmd's TCP listener refuses every client that does not present a certificate signed by
--tls-client-ca (DESIGN.md "Security"), at the TLS handshake, before any call: no client
certificate at all, a certificate of another CA, and plain TCP to the TLS port. A client with
the right certificate is served (the control). Each refused connection is UNAVAILABLE to the
client.

libzxvm cannot even try the first case (it will not connect without a key: tests/cli/tls_test.sh
checks that), so this uses python3-grpcio. Run through tests/daemon/with-zxvmd.sh tls, which makes
the CA and the certificates and exports ZXVM_TEST_TARGET and ZXVM_TLS_*. Exit 0 when every check
passed, 1 otherwise, 77 when it cannot run here.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
from wirecheck import SERVICE, TIMEOUT, Checks, grpc, read, secure_channel  # noqa: E402

checks = Checks()
check = checks.check


def open_session(ch):
    """The status code of OpenSession{} (ephemeral), the first call any client makes."""
    stub = ch.unary_unary(SERVICE + "OpenSession", request_serializer=None,
                          response_deserializer=None)
    try:
        stub(b"", timeout=TIMEOUT, wait_for_ready=False)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def secure(ca, key=None, cert=None):
    return secure_channel(target, ca, key, cert)


def other_ca_client(d):
    """A client key and certificate signed by a CA of their own, not zxvmd's."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
    run("req", "-x509", *ec, "-keyout", f"{d}/oca.key", "-out", f"{d}/oca.pem", "-days", "2",
        "-subj", "/CN=another CA")
    run("req", "-new", *ec, "-keyout", f"{d}/o.key", "-out", f"{d}/o.csr",
        "-subj", "/CN=zxvm-test-client")
    with open(f"{d}/o.ext", "w") as f:
        f.write("extendedKeyUsage = clientAuth\n")
    run("x509", "-req", "-in", f"{d}/o.csr", "-CA", f"{d}/oca.pem", "-CAkey", f"{d}/oca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{d}/o.ext", "-out", f"{d}/o.pem")
    return read(f"{d}/o.key"), read(f"{d}/o.pem")


target = os.environ.get("ZXVM_TEST_TARGET", "")
if target.startswith("unix:") or "ZXVM_TLS_CA" not in os.environ:
    print("skipped: needs zxvmd on TCP with mutual TLS (with-zxvmd.sh tls)")
    sys.exit(77)
ca = read(os.environ["ZXVM_TLS_CA"])

with secure(ca, read(os.environ["ZXVM_TLS_KEY"]), read(os.environ["ZXVM_TLS_CERT"])) as ch:
    check("the CA's client certificate: OpenSession", grpc.StatusCode.OK, open_session(ch))
with secure(ca) as ch:
    check("no client certificate: OpenSession", grpc.StatusCode.UNAVAILABLE, open_session(ch))
with tempfile.TemporaryDirectory() as d:
    key, cert = other_ca_client(d)
with secure(ca, key, cert) as ch:
    check("a client certificate of another CA: OpenSession", grpc.StatusCode.UNAVAILABLE,
          open_session(ch))
with grpc.insecure_channel(target) as ch:
    check("plain TCP to the TLS port: OpenSession", grpc.StatusCode.UNAVAILABLE,
          open_session(ch))
# Still serving the right client after the refusals.
with secure(ca, read(os.environ["ZXVM_TLS_KEY"]), read(os.environ["ZXVM_TLS_CERT"])) as ch:
    check("the CA's client certificate afterwards: OpenSession", grpc.StatusCode.OK,
          open_session(ch))
sys.exit(checks.report())
