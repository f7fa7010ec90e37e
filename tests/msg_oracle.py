"""The Python side of spec/34_message_oracle_spec.lua: Python's socket
module as the trusted implementation of message sockets.

  msg_oracle.py CONTROL DIR
      connects to the stream socket CONTROL (the spec's listener), makes
      its sockets in the directory DIR, and runs the cases the spec writes
      there, one after the other, until end of stream. Every line is
      space-separated words; data and names are hex ("-" for none).

A case, from the spec:
  case KIND DIR SENDER DEST   KIND datagram|seqpacket; DIR py2ux|ux2py;
                              SENDER path|abstract|unbound; DEST hex name
  msg LEN HEXBLOCK            a message: HEXBLOCK repeated, cut to LEN bytes
  max M                       the max its receiver uses for the next message
  close                       (seqpacket) the sender closes after the last
  end
py2ux: Python sends every message to DEST (a uxsock datagram socket, or a
seqpacket listener it connects to), and the same on an oracle pair of its
own; answers "sent NAME" (its sender's name) once all are queued, then for
each message what the oracle's recvmsg(M) gave: "r LEN P TRUNC ADDR [DATA]"
(P 1: the bytes are the sent message's first LEN; 0: they follow), then
what follows the last: "eof" and "epipe ERRNO" (closed) or "again ERRNO"
(BlockingIOError of a non-blocking recv), then "done".
ux2py: Python makes its receiver and answers "ready NAME"; the spec sends
the messages with uxsock, then writes "go NAME" (its sender's name);
Python sends the same from a Python socket to an oracle receiver, then for
each message prints "g ..." (what came from uxsock) and "o ..." (what came
from Python), as "r" lines; then "again ERRNO" / "eof" for both, "done".

  err KIND HEXPATH SIZE       a Python datagram socket sends SIZE bytes to
                              HEXPATH: "errno N" or "ok N"
"""
import errno
import os
import socket
import sys

TYPES = {"datagram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET}
counter = [0]
linger = []  # sockets closed when the next command comes


def name_of(addr):
    """A name as hex, in uxsock's spelling: "@x" for abstract b"\\0x"."""
    if addr is None or addr == "" or addr == b"":
        return "-"
    if isinstance(addr, str):
        addr = os.fsencode(addr)
    if addr[:1] == b"\0":
        addr = b"@" + addr[1:]
    return addr.hex()


def unhex(h):
    return b"" if h == "-" else bytes.fromhex(h)


def addr_arg(b):
    return b"\0" + b[1:] if b[:1] == b"@" else b


def fresh(dirname, tag):
    counter[0] += 1
    return os.path.join(dirname, "%s%d.sock" % (tag, counter[0]))


def bind_sender(s, kind, dirname):
    if kind == "path":
        s.bind(fresh(dirname, "p"))
    elif kind == "abstract":
        counter[0] += 1
        s.bind(b"\0uxsock-oracle-%d-%d" % (os.getpid(), counter[0]))


def big(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)


def rline(tag, got, addr=None):
    """A received message: "TAG LEN P TRUNC ADDR [HEX]", P being 1 when the
    bytes are the head of the message sent (the spec has those bytes: no
    hex needed), 0 with the bytes in hex otherwise."""
    data, flags, sent, a = got
    prefix = data == sent[:len(data)]
    line = "%s %d %d %d %s" % (tag, len(data), 1 if prefix else 0,
                               1 if flags & socket.MSG_TRUNC else 0,
                               name_of(a if addr is None else addr))
    return line if prefix else line + " " + (data.hex() or "-")


def recv_all(s, maxes, msgs):
    out = []
    for m, sent in zip(maxes, msgs):
        data, _, flags, addr = s.recvmsg(m)
        out.append((data, flags, sent, addr))
    return out


def after(s, closed):
    """What a receive finds after the last message."""
    if closed:
        data = s.recv(10)
        return "eof" if data == b"" else "data " + data.hex()
    s.setblocking(False)
    try:
        s.recv(10)
        return "data"
    except BlockingIOError as e:
        return "again %d" % e.errno
    finally:
        s.setblocking(True)


def remove(*paths):
    for p in paths:
        if isinstance(p, str) and os.path.exists(p):
            os.unlink(p)


def case(ctl, out, words, dirname):
    kind, direction, sender, dest = words[1], words[2], words[3], unhex(words[4])
    msgs, maxes, closed = [], [], False
    while True:
        w = ctl.readline().split()
        if w[0] == "end":
            break
        if w[0] == "msg":
            n, block = int(w[1]), bytes.fromhex(w[2]) if w[2] != "-" else b"\0"
            msgs.append((block * (n // len(block) + 1))[:n])
        elif w[0] == "max":
            maxes.append(int(w[1]))
        elif w[0] == "close":
            closed = True
    t = TYPES[kind]
    if direction == "py2ux":
        if kind == "datagram":
            s = socket.socket(socket.AF_UNIX, t)
            big(s)
            bind_sender(s, sender, dirname)
            rpath = fresh(dirname, "r")
            r = socket.socket(socket.AF_UNIX, t)
            r.bind(rpath)
            for m in msgs:
                s.sendto(m, addr_arg(dest))
                s.sendto(m, rpath)
            out.write("sent %s\n" % name_of(s.getsockname()))
            out.flush()
            for got in recv_all(r, maxes, msgs):
                out.write(rline("r", got) + "\n")
            out.write(after(r, False) + "\n")
            sname = s.getsockname()
            s.close()
            r.close()
            remove(rpath, sname)
        else:
            s = socket.socket(socket.AF_UNIX, t)
            big(s)
            s.connect(addr_arg(dest))
            a, b = socket.socketpair(socket.AF_UNIX, t)
            big(a)
            for m in msgs:
                s.send(m)
                a.send(m)
            out.write("sent -\n")
            out.flush()
            if closed:
                s.close()
                a.close()
            for got in recv_all(b, maxes, msgs):
                out.write(rline("r", got) + "\n")
            out.write(after(b, closed) + "\n")
            if closed:
                try:
                    b.send(b"x")
                    out.write("sent-after-close\n")
                except OSError as e:
                    out.write("epipe %d\n" % e.errno)
            else:
                # open until the spec has seen its recv find nothing
                linger.extend((s, a))
            b.close()
        out.write("done\n")
        out.flush()
        return
    # ux2py
    if kind == "datagram":
        xpath = fresh(dirname, "x")
        x = socket.socket(socket.AF_UNIX, t)
        x.bind(xpath)
        out.write("ready %s\n" % name_of(xpath))
        out.flush()
        w = ctl.readline().split()
        s = socket.socket(socket.AF_UNIX, t)
        big(s)
        rpath = fresh(dirname, "r")
        r = socket.socket(socket.AF_UNIX, t)
        r.bind(rpath)
        for m in msgs:
            s.sendto(m, rpath)
        got, orc = recv_all(x, maxes, msgs), recv_all(r, maxes, msgs)
        for g, o in zip(got, orc):
            out.write(rline("g", g) + "\n")
            out.write(rline("o", o, "") + "\n")
        out.write("g" + after(x, False) + "\n")
        out.write("o" + after(r, False) + "\n")
        for so in (x, s, r):
            so.close()
        remove(xpath, rpath)
    else:
        xpath = fresh(dirname, "x")
        lst = socket.socket(socket.AF_UNIX, t)
        lst.bind(xpath)
        lst.listen(1)
        out.write("ready %s\n" % name_of(xpath))
        out.flush()
        x, _ = lst.accept()
        lst.close()
        remove(xpath)
        ctl.readline()  # go
        a, b = socket.socketpair(socket.AF_UNIX, t)
        big(a)
        for m in msgs:
            a.send(m)
        if closed:
            a.close()
        got, orc = recv_all(x, maxes, msgs), recv_all(b, maxes, msgs)
        for g, o in zip(got, orc):
            out.write(rline("g", g) + "\n")
            out.write(rline("o", o) + "\n")
        out.write("g" + after(x, closed) + "\n")
        out.write("o" + after(b, closed) + "\n")
        for so in (x, a, b):
            so.close()
    out.write("done\n")
    out.flush()


def err(out, words):
    s = socket.socket(socket.AF_UNIX, TYPES[words[1]])
    try:
        n = s.sendto(b"e" * int(words[3]), addr_arg(unhex(words[2])))
        out.write("ok %d\n" % n)
    except OSError as e:
        out.write("errno %d\n" % e.errno)
    s.close()
    out.flush()


def main():
    control, dirname = sys.argv[1], sys.argv[2]
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(control)
    ctl = c.makefile("r", encoding="ascii", newline="\n")
    out = c.makefile("w", encoding="ascii", newline="\n")
    for line in ctl:
        while linger:
            linger.pop().close()
        words = line.split()
        if not words:
            continue
        if words[0] == "case":
            case(ctl, out, words, dirname)
        elif words[0] == "err":
            err(out, words)
        elif words[0] == "errno":
            out.write("%s %d\n" % (words[1], getattr(errno, words[1])))
            out.flush()
    c.close()


if __name__ == "__main__":
    main()
