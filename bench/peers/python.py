#!/usr/bin/env python3
"""Benchmark peer: Python 3's standard socket module. Protocol: bench/README.md.

    python.py server|client WORKLOAD PATH COUNT SIZE
"""
import os
import socket
import sys
from time import perf_counter  # CLOCK_MONOTONIC on Linux

AF_UNIX = socket.AF_UNIX
SOCK_STREAM = socket.SOCK_STREAM
SOCK_DGRAM = socket.SOCK_DGRAM


class Failure(Exception):
    pass


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def bound(kind, path, cleanup):
    """A socket bound to path (a stale file removed first); path is removed at exit."""
    sock = socket.socket(AF_UNIX, kind)
    remove(path)
    sock.bind(path)
    cleanup.append(path)
    return sock


def listening(path, cleanup):
    sock = bound(SOCK_STREAM, path, cleanup)
    sock.listen(max(socket.SOMAXCONN, 128))
    return sock


def recv_to_eof(sock):
    parts = []
    while True:
        data = sock.recv(4096)
        if not data:
            return b"".join(parts)
        parts.append(data)


# pingpong ---------------------------------------------------------------

def pingpong_server(path, count, size, cleanup):
    with listening(path, cleanup) as lsock:
        conn, _ = lsock.accept()
    with conn:
        recv, sendall = conn.recv, conn.sendall
        n = 0
        while True:
            data = recv(size)
            if len(data) != size:
                if not data:
                    break
                data = recv_exact_rest(conn, data, size)
            sendall(data)
            n += 1
    if n != count:
        raise Failure(f"pingpong: echoed {n} messages, expected {count}")


def recv_exact_rest(sock, data, size):
    parts = [data]
    got = len(data)
    while got < size:
        more = sock.recv(size - got)
        if not more:
            raise Failure(f"end of stream after {got} of {size} bytes")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def pingpong_client(path, count, size, cleanup):
    msg = b"p" * size
    t0 = perf_counter()
    with socket.socket(AF_UNIX, SOCK_STREAM) as sock:
        sock.connect(path)
        recv, sendall = sock.recv, sock.sendall
        for i in range(count):
            sendall(msg)
            data = recv(size)
            if len(data) != size:
                if not data:
                    raise Failure(f"pingpong: end of stream after {i} of {count} replies")
                recv_exact_rest(sock, data, size)
        t1 = perf_counter()
    return t1 - t0


# bulk / bulkbuf -----------------------------------------------------------

def bulk_server(path, count, size, cleanup):
    with listening(path, cleanup) as lsock:
        conn, _ = lsock.accept()
    with conn:
        recv = conn.recv
        total = 0
        while True:
            data = recv(size)  # a new bytes object per read
            if not data:
                break
            total += len(data)
        conn.sendall(b"%d\n" % total)
    if total != count * size:
        raise Failure(f"bulk: received {total} bytes, expected {count * size}")


def bulkbuf_server(path, count, size, cleanup):
    with listening(path, cleanup) as lsock:
        conn, _ = lsock.accept()
    buf = bytearray(size)
    with conn:
        recv_into = conn.recv_into
        total = 0
        while True:
            n = recv_into(buf)  # always the same buffer
            if not n:
                break
            total += n
        conn.sendall(b"%d\n" % total)
    if total != count * size:
        raise Failure(f"bulkbuf: received {total} bytes, expected {count * size}")


def bulk_client(path, count, size, cleanup):
    chunk = b"b" * size
    want = b"%d\n" % (count * size)
    t0 = perf_counter()
    with socket.socket(AF_UNIX, SOCK_STREAM) as sock:
        sock.connect(path)
        sendall = sock.sendall
        for _ in range(count):
            sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
        reply = recv_to_eof(sock)
        t1 = perf_counter()
    if reply != want:
        raise Failure(f"bulk: reply {reply!r}, expected {want!r}")
    return t1 - t0


# dgram --------------------------------------------------------------------

def dgram_server(path, count, size, cleanup):
    buf = bytearray(size + 1)  # a longer datagram would show as size + 1
    with bound(SOCK_DGRAM, path, cleanup) as sock:
        n, sender = sock.recvfrom_into(buf)  # the sender, for the reply
        if n != size:
            raise Failure(f"dgram: datagram 1 is {n} bytes, expected {size}")
        recv_into = sock.recv_into
        for i in range(1, count):
            n = recv_into(buf)
            if n != size:
                raise Failure(f"dgram: datagram {i + 1} is {n} bytes, expected {size}")
        if not sender:
            raise Failure("dgram: the sender has no address to reply to")
        sock.sendto(b"%d" % count, sender)


def dgram_client(path, count, size, cleanup):
    msg = b"d" * size
    want = b"%d" % count
    t0 = perf_counter()
    with bound(SOCK_DGRAM, path + ".c", cleanup) as sock:
        sock.connect(path)  # connected: no address per datagram
        send = sock.send
        for _ in range(count):
            send(msg)
        reply = sock.recv(64)
        t1 = perf_counter()
    if reply != want:
        raise Failure(f"dgram: reply {reply!r}, expected {want!r}")
    return t1 - t0


# connect ------------------------------------------------------------------

def connect_server(path, count, size, cleanup):
    with listening(path, cleanup) as lsock:
        accept = lsock.accept
        for i in range(count):
            conn, _ = accept()
            with conn:
                b = conn.recv(1)
                if not b:
                    raise Failure(f"connect: connection {i + 1} closed before its byte")
                conn.sendall(b)


def connect_client(path, count, size, cleanup):
    new = socket.socket
    t0 = perf_counter()
    for i in range(count):
        with new(AF_UNIX, SOCK_STREAM) as sock:
            sock.connect(path)
            sock.sendall(b"c")
            if sock.recv(1) != b"c":
                raise Failure(f"connect: connection {i + 1}: no or wrong byte back")
    t1 = perf_counter()
    return t1 - t0


WORKLOADS = {
    "pingpong": (pingpong_server, pingpong_client),
    "bulk": (bulk_server, bulk_client),
    "bulkbuf": (bulkbuf_server, bulk_client),
    "dgram": (dgram_server, dgram_client),
    "connect": (connect_server, connect_client),
    "dgrambatch": None,  # Python's socket has no sendmmsg/recvmmsg
}


def main(argv):
    if len(argv) != 6 or argv[1] not in ("server", "client") or not argv[4].isdigit() \
            or not argv[5].isdigit():
        sys.stderr.write("usage: python.py server|client "
                         "pingpong|bulk|bulkbuf|dgram|dgrambatch|connect PATH COUNT SIZE\n")
        return 2
    role, workload, path = argv[1], argv[2], argv[3]
    count, size = int(argv[4]), int(argv[5])
    if workload not in WORKLOADS:
        sys.stderr.write(f"error: unknown workload: {workload}\n")
        return 1
    cleanup = []
    try:
        if size == 0 and workload not in ("dgram", "connect"):
            raise Failure(f"SIZE must be at least 1 for {workload}")
        if count == 0 and workload == "dgram":
            raise Failure("COUNT must be at least 1 for dgram (the reply goes to the sender)")
        if WORKLOADS[workload] is None:
            print(f"unsupported: python has no batched datagram call ({workload})")
            return 3
        server, client = WORKLOADS[workload]
        if role == "server":
            server(path, count, size, cleanup)
        else:
            seconds = client(path, count, size, cleanup)
    except (Failure, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    finally:
        for p in cleanup:
            remove(p)
    if role == "client":
        sys.stdout.write(f"result peer=python workload={workload} count={count} "
                         f"size={size} seconds={seconds:.6f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
