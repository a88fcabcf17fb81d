#!/usr/bin/python3
"""Binds an AF_UNIX datagram socket at PATH and appends every line of every
datagram it receives to OUT, flushed at once, until SIGTERM.  Stands in for
systemd's NOTIFY_SOCKET (sd_notify) and for journald's native socket
(sd_journal_send: one KEY=value per line) in tests/integration.

usage: dgram_listen.py PATH OUT
"""
import os
import signal
import socket
import sys


def main():
    path, out = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path + ".tmp")
    # The daemon sends after it dropped to its service user.
    os.chmod(path + ".tmp", 0o666)
    os.rename(path + ".tmp", path)  # appears only once bound
    with open(out, "a", encoding="utf-8", errors="replace") as f:
        while True:
            data = s.recv(1 << 17)
            for line in data.decode("utf-8", "replace").split("\n"):
                if line:
                    f.write(line + "\n")
            f.flush()


if __name__ == "__main__":
    main()
