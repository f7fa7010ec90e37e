"""The Python side of spec/16_fdpass_spec.lua: descriptors passed with
socket.send_fds and socket.recv_fds (Python 3.9+), to and from uxsock.

  fdpass_peer.py serve TYPE PATH FILE
      listens on PATH (TYPE: stream or seqpacket), accepts one connection,
      sends b"from python" with four descriptors: FILE opened for reading,
      a directory, an AF_INET socket and the read end of a pipe holding
      b"through a pipe"; then receives one message with descriptors and
      answers with what it found in them: "N|content|content...", where
      content is what a descriptor holds from offset 0 (a file), what it
      reads (a pipe) or "socket:" + what a socket receives after "ping".
  fdpass_peer.py stdin TYPE CMD...
      runs CMD with one end of a socketpair as its stdin, sends b"ping",
      prints what comes back until end of stream, exits with CMD's status.
"""
import os
import socket
import stat
import subprocess
import sys

TYPES = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET}


def content(fd):
    mode = os.fstat(fd).st_mode
    if stat.S_ISSOCK(mode):
        s = socket.socket(fileno=fd)
        s.sendall(b"ping")
        data = s.recv(100)
        s.detach()
        return b"socket:" + data
    if stat.S_ISREG(mode):
        return os.pread(fd, 1000, 0)
    return os.read(fd, 1000)


def serve(kind, path, filename):
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, TYPES[kind])
    server.bind(path)
    server.listen(1)
    conn, _ = server.accept()
    server.close()
    os.unlink(path)
    f = open(filename, "rb")
    d = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    inet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r, w = os.pipe()
    os.write(w, b"through a pipe")
    os.close(w)
    socket.send_fds(conn, [b"from python"], [f.fileno(), d, inet.fileno(), r])
    f.close()
    os.close(d)
    inet.close()
    os.close(r)
    data, fds, _, _ = socket.recv_fds(conn, 1024, 16)
    parts = [str(len(fds)).encode()]
    for fd in fds:
        parts.append(content(fd))
        os.close(fd)
    conn.sendall(data + b"=" + b"|".join(parts))
    conn.close()


def stdin(kind, cmd):
    a, b = socket.socketpair(socket.AF_UNIX, TYPES[kind])
    child = subprocess.Popen(cmd, stdin=b)
    b.close()
    a.sendall(b"ping")
    while True:
        data = a.recv(1000)
        if not data:
            break
        sys.stdout.write(data.decode())
    sys.stdout.flush()
    return child.wait()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(stdin(sys.argv[2], sys.argv[3:]))
