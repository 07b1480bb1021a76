#!/usr/bin/env python3
"""A small unwrapd client in Python, on Debian's grpcio (python3-grpcio, python3-grpc-tools, python3-protobuf).

The stubs are generated from the repository's proto/ at run time into a temporary directory (nothing generated
is kept), with the same protoc a build would run:

    python3 -m grpc_tools.protoc -I proto -I <grpc_tools>/_proto --python_out=OUT --grpc_python_out=OUT \\
        proto/unwrapd/v1/*.proto proto/google/rpc/*.proto

The channel is a default one (no options): gRPC's default receive limit of 4 MiB per message holds every
response of a daemon at its default settings (docs/api.md, "Message sizes").

Each step prints one JSON line; the script exits 1 at the first step that does not give what it should.

    /usr/bin/python3 examples/python/unwrapd_client.py --address unix:///path/to/unwrapd.sock
"""

import argparse
import glob
import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile

import grpc

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MiB = 1024 * 1024
STEPS = ("unary", "batch", "stream", "segmented", "typed-error")


def generate_stubs(proto_dir, out_dir):
    """Runs grpc_tools' protoc on proto/ and makes the generated modules importable."""
    import grpc_tools
    from grpc_tools import protoc

    proto_dir = os.path.abspath(proto_dir)
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    protos = sorted(glob.glob(os.path.join(proto_dir, "unwrapd", "v1", "*.proto")))
    protos += sorted(glob.glob(os.path.join(proto_dir, "google", "rpc", "*.proto")))
    args = ["grpc_tools.protoc", "-I" + proto_dir, "-I" + well_known, "--python_out=" + out_dir]
    if protoc.main(args + ["--grpc_python_out=" + out_dir] + protos) != 0:
        raise RuntimeError("protoc failed")
    sys.path.insert(0, out_dir)
    return {
        "crypto": importlib.import_module("unwrapd.v1.crypto_pb2"),
        "crypto_grpc": importlib.import_module("unwrapd.v1.crypto_pb2_grpc"),
        "status": importlib.import_module("google.rpc.status_pb2"),
        "details": importlib.import_module("google.rpc.error_details_pb2"),
    }


def report(step, ok, **fields):
    print(json.dumps(dict(step=step, ok=ok, **fields)), flush=True)
    if not ok:
        sys.exit(1)


def digest(data):
    return hashlib.sha256(data).hexdigest()


def unary(stub, pb, args):
    """Encrypt and Decrypt of the largest block the daemon accepts."""
    block = os.urandom(args.max_block_bytes)
    context = {"mailbox": "alice@contoso.example", "item": "42"}
    enc = stub.Encrypt(pb.EncryptRequest(tenant=args.tenant, policy_id=args.policy, plaintext=block, context=context))
    dec = stub.Decrypt(pb.DecryptRequest(tenant=args.tenant, envelope=enc.envelope, context=context))
    report(
        "unary",
        dec.plaintext == block and dec.policy_id == args.policy,
        plaintext_bytes=len(block),
        envelope_bytes=len(enc.envelope),
        key_version=enc.key_version,
    )


def batch(stub, pb, args):
    """EncryptBatch and DecryptBatch of the most items and bytes one batch may hold."""
    each = args.batch_max_bytes // args.batch_max_items
    items = [os.urandom(each) for _ in range(args.batch_max_items)]
    enc = stub.EncryptBatch(
        pb.EncryptBatchRequest(
            tenant=args.tenant,
            policy_id=args.policy,
            items=[pb.EncryptBatchItem(plaintext=p, context={"n": str(i)}) for i, p in enumerate(items)],
        )
    )
    envelopes = [r.ok.envelope for r in enc.results if r.WhichOneof("result") == "ok"]
    if len(envelopes) != len(items):
        report("batch", False, error="an EncryptBatch item failed")
    dec = stub.DecryptBatch(
        pb.DecryptBatchRequest(
            tenant=args.tenant,
            items=[pb.DecryptBatchItem(envelope=e, context={"n": str(i)}) for i, e in enumerate(envelopes)],
        )
    )
    opened = [r.ok.plaintext for r in dec.results if r.WhichOneof("result") == "ok"]
    report("batch", opened == items, items=len(items), plaintext_bytes=each * len(items))


def chunks(data, size):
    for off in range(0, len(data), size):
        yield data[off : off + size]


def stream(stub, pb, args):
    """EncryptStream of content larger than a block, in the largest chunks accepted, then DecryptStream."""
    content = os.urandom(args.stream_bytes)

    def encrypt_requests():
        yield pb.EncryptStreamRequest(header=pb.StreamHeader(tenant=args.tenant, policy_id=args.policy))
        yield pb.EncryptStreamRequest(chunk=b"")  # empty chunks are accepted
        for c in chunks(content, args.chunk_bytes):
            yield pb.EncryptStreamRequest(chunk=c)

    responses = list(stub.EncryptStream(encrypt_requests()))
    envelope = b"".join(r.data for r in responses)
    versions = {r.key_version for r in responses}

    def decrypt_requests():
        yield pb.DecryptStreamRequest(header=pb.StreamHeader(tenant=args.tenant))
        for c in chunks(envelope, args.chunk_bytes):
            yield pb.DecryptStreamRequest(chunk=c)

    out = list(stub.DecryptStream(decrypt_requests()))
    plaintext = b"".join(r.plaintext for r in out)
    report(
        "stream",
        plaintext == content and len(versions) == 1 and 0 not in versions and out[0].policy_id == args.policy,
        content_bytes=len(content),
        envelope_bytes=len(envelope),
        encrypt_responses=len(responses),
        decrypt_responses=len(out),
        largest_response=max(len(r.plaintext) for r in out),
    )


def segmented(stub, pb, args):
    """DecryptStream of a stored segmented envelope (e.g. one with the largest segments the daemon reads)."""
    with open(args.segmented_envelope, "rb") as f:
        envelope = f.read()

    def requests():
        yield pb.DecryptStreamRequest(header=pb.StreamHeader(tenant=args.tenant))
        for c in chunks(envelope, args.chunk_bytes):
            yield pb.DecryptStreamRequest(chunk=c)

    out = list(stub.DecryptStream(requests()))
    plaintext = b"".join(r.plaintext for r in out)
    report(
        "segmented",
        True,
        plaintext_bytes=len(plaintext),
        sha256=digest(plaintext),
        largest_response=max(len(r.plaintext) for r in out),
    )


def error_info(err, stubs):
    """The google.rpc.Status of a failed call (trailing metadata `grpc-status-details-bin`) and its ErrorInfo."""
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if raw is None:
        return None, None
    status = stubs["status"].Status.FromString(raw)
    for any_detail in status.details:
        info = stubs["details"].ErrorInfo()
        if any_detail.Is(info.DESCRIPTOR):
            any_detail.Unpack(info)
            return status, info
    return status, None


def typed_error(stub, pb, stubs, args):
    """A call refused with a typed error: the reason is read from the status details, not from the message."""
    try:
        stub.Encrypt(pb.EncryptRequest(tenant=args.tenant, policy_id=args.revoked_policy, plaintext=b"x"))
    except grpc.RpcError as err:
        status, info = error_info(err, stubs)
        report(
            "typed-error",
            True,
            code=err.code().name,
            message=err.details(),
            status_code=status.code if status else None,
            reason=info.reason if info else None,
            domain=info.domain if info else None,
            metadata=dict(info.metadata) if info else None,
        )
        return
    report("typed-error", False, error="the call succeeded")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--address", required=True, help="unix:///path/unwrapd.sock or host:port (the data listener)")
    ap.add_argument("--tenant", default="demo")
    ap.add_argument("--policy", default="demo-mailbox")
    ap.add_argument("--steps", default="unary,batch,stream", help="comma-separated: " + ", ".join(STEPS))
    # The daemon's defaults (docs/configuration.md); pass the daemon's own values if it was configured otherwise.
    ap.add_argument("--max-block-bytes", type=int, default=4 * MiB - 64 * 1024)
    ap.add_argument("--batch-max-items", type=int, default=1024)
    ap.add_argument("--batch-max-bytes", type=int, default=3 * MiB)
    ap.add_argument("--chunk-bytes", type=int, default=256 * 1024, help="the largest stream chunk accepted")
    ap.add_argument("--stream-bytes", type=int, default=5 * MiB + 7)
    ap.add_argument("--segmented-envelope", help="a stored segmented envelope to decrypt (step 'segmented')")
    ap.add_argument("--revoked-policy", help="a revoked policy of the tenant (step 'typed-error')")
    ap.add_argument("--proto-dir", default=os.path.join(REPO, "proto"))
    args = ap.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        ap.error("unknown steps: " + ", ".join(sorted(unknown)))

    out_dir = tempfile.mkdtemp(prefix="unwrapd-stubs-")
    try:
        stubs = generate_stubs(args.proto_dir, out_dir)
        pb = stubs["crypto"]
        with grpc.insecure_channel(args.address) as channel:  # a default channel: no options
            stub = stubs["crypto_grpc"].CryptoStub(channel)
            for step in steps:
                if step == "unary":
                    unary(stub, pb, args)
                elif step == "batch":
                    batch(stub, pb, args)
                elif step == "stream":
                    stream(stub, pb, args)
                elif step == "segmented":
                    segmented(stub, pb, args)
                elif step == "typed-error":
                    typed_error(stub, pb, stubs, args)
    except grpc.RpcError as err:
        report("call", False, code=err.code().name, message=err.details())
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
