#!/usr/bin/env python3
"""Starts `BIN serve` (its environment is this one's) and prints the milliseconds from exec to
the first 200 of GET /readyz on PORT, then stops it (for bench/run).

    ready.py BIN PORT
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    binary, port = sys.argv[1], int(sys.argv[2])
    # The gateway's own words on why it stopped, if it does (a file: a pipe could fill).
    log = tempfile.TemporaryFile()
    start = time.monotonic()
    process = subprocess.Popen(
        [binary, "serve"], stdout=subprocess.DEVNULL, stderr=log, env=os.environ
    )
    try:
        # A tight poll: the figure is to the millisecond, and it is not the gateway's CPU.
        while not ready(port):
            if process.poll() is not None:
                log.seek(0)
                said = log.read().decode(errors="replace")[-2000:]
                raise SystemExit(f"the gateway exited before it was ready:\n{said}")
            if time.monotonic() - start > 30:
                raise SystemExit("not ready after 30 s")
            time.sleep(0.0005)
        print(f"{(time.monotonic() - start) * 1000:.1f}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()


main()
