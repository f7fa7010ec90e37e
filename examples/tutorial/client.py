# client.py
import socket

with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
    sock.connect("/tmp/docode.sock")
    sock.sendall(b"Hello, docode!")
    data = sock.recv(1024)

print(f"Received {data!r}")
