# server.py
import socket

with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
    sock.bind("/tmp/docode.sock")
    sock.listen()
    conn, address = sock.accept()
    with conn:
        while True:
            data = conn.recv(1024)
            print(f"Got connection with message: {data}")
            if not data:
                break
            conn.sendall(data)
