#!/usr/bin/env python3
"""Opens N keep-alive connections to the gateway, makes one request on each, keeps them all
open and prints the gateway's VmRSS in MB while they are held (for bench/run).

    conns.py PID PORT N PATH [HEADER ...]
"""
import resource
import socket
import sys


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")


def read_answer(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("connection closed before the answer")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head.split(b" ", 2)[1]


def main():
    pid, port, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    headers = "".join(f"{h}\r\n" for h in sys.argv[5:])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 256)), hard))
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode()
    held, failed = [], 0
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(request)
        if read_answer(sock) != b"200":
            failed += 1
        held.append(sock)
    print(f"{rss_mb(pid):.1f} {failed}")
    for sock in held:
        sock.close()


main()
