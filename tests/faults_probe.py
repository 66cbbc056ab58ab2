#!/usr/bin/env python3
"""faults_probe.py - hostile clients for tests/faults_test.sh.

    faults_probe.py KIND HOST PORT LIMIT_S OUTFILE

KIND is one of
  garbage-http    an HTTP request (its first 4 bytes read as a length > 1 MiB)
  garbage-random  a plausible 37-byte length, then 37 seeded random bytes
  garbage-zeros   64 zero bytes (a frame of length 0, then more)
  halfopen        connect and send nothing
  slowloris       a plausible length (37), then one byte every 4 s

It waits until the service closes the connection (EOF or reset) or LIMIT_S
seconds pass, and writes one line to OUTFILE:
  closed MS BYTES_RECEIVED   the service closed it after MS ms
  open MS BYTES_RECEIVED     still open when the limit came (the probe closes it)
  error MESSAGE              could not connect
"""
import random
import socket
import sys
import time


def main():
    kind, host, port, limit, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    rng = random.Random(9)
    t0 = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=5)
    except OSError as e:
        open(out, "w").write("error %s\n" % e)
        return
    received = 0
    closed = False
    next_byte = None
    try:
        if kind == "garbage-http":
            s.sendall(b"GET / HTTP/1.1\r\nHost: cairn\r\n\r\n")
        elif kind == "garbage-random":
            s.sendall(b"\x00\x00\x00\x25" + bytes(rng.randrange(256) for _ in range(37)))
        elif kind == "garbage-zeros":
            s.sendall(b"\x00" * 64)
        elif kind == "slowloris":
            s.sendall(b"\x00\x00\x00\x25")
            next_byte = time.monotonic() + 4
        elif kind != "halfopen":
            raise SystemExit("unknown kind " + kind)
    except OSError:
        closed = True
    while not closed and time.monotonic() - t0 < limit:
        s.settimeout(0.2)
        try:
            b = s.recv(4096)
            if not b:
                closed = True
                break
            received += len(b)
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
        if next_byte is not None and time.monotonic() >= next_byte:
            try:
                s.sendall(bytes([rng.randrange(256)]))
            except OSError:
                closed = True
                break
            next_byte += 4
    ms = int((time.monotonic() - t0) * 1000)
    s.close()
    open(out, "w").write("%s %d %d\n" % ("closed" if closed else "open", ms, received))


main()
