#!/usr/bin/env python3
"""Moves one web server out of or into the L4 load balancer, and reads its state.

  l4.py state --manifest FILE --health-url URL [--backups DIR]
      prints {"live": <manifest or {}>, "health": <body or null>,
      "backups": [...]} as JSON; backups lists the complete backups in DIR
      (those with a manifest.json, which is written last), newest first, as
      {"path", "release_id", "version"}.
  l4.py out --flag FILE --health-url URL [L4 options]
      raises the out-of-service flag, waits until the health check answers
      --out-body (or nothing answers: a stopped server is out already), then
      until the L4 has marked the server down.
  l4.py in --flag FILE --health-url URL [--version-url URL --version V] [L4 options]
      checks that the server answers (and serves version V at --version-url),
      lowers the flag, waits until the health check answers --ok-body, then
      until the L4 has marked the server up. On failure the flag stays.

L4 options: with --stats-url (HAProxy's CSV stats page) or --stats-socket
(HAProxy's stats socket) the server's status in --backend/--server is polled
every 50 ms; without either, the script waits --fallback-seconds (the L4's
interval x fall or rise, plus a margin).
"""
import argparse
import csv
import io
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

POLL = 0.05


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def fetch(url):
    """Returns the body of url (whatever the status), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.read().decode("utf-8", "replace")
    except OSError:
        return None


def wait_body(url, accept, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        body = fetch(url)
        if accept(body):
            return
        if time.monotonic() > deadline:
            fail("%s answered %r within %.0fs, not %s" % (url, body, timeout, what))
        time.sleep(POLL)


def read_stats(args):
    if args.stats_url:
        with urllib.request.urlopen(args.stats_url, timeout=2) as resp:
            return resp.read().decode("utf-8", "replace")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    try:
        sock.connect(args.stats_socket)
        sock.sendall(b"show stat\n")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        sock.close()


def server_status(text, backend, server):
    lines = text.splitlines()
    if not lines:
        raise ValueError("empty stats")
    header = lines[0].lstrip("# ").split(",")
    col = {name: i for i, name in enumerate(header)}
    seen = []
    for row in csv.reader(io.StringIO("\n".join(lines[1:]))):
        if len(row) <= col["status"] or row[col["pxname"]] != backend:
            continue
        seen.append(row[col["svname"]])
        if row[col["svname"]] == server:
            return row[col["status"]]
    raise LookupError("server %s is not in backend %s (it has: %s)" % (server, backend, ", ".join(seen) or "nothing"))


def wait_l4(args, want):
    """Waits until the L4 has marked the server down or up."""
    if not args.stats_url and not args.stats_socket:
        time.sleep(args.fallback_seconds)
        print("waited %.2fs (L4 timing) for the load balancer to mark the server %s" % (args.fallback_seconds, want))
        return
    start = time.monotonic()
    last = "unknown"
    while True:
        try:
            last = server_status(read_stats(args), args.backend, args.server)
        except LookupError as err:
            fail(str(err))
        except (OSError, ValueError, KeyError) as err:
            last = "stats unreadable: %s" % err
        else:
            done = last == "UP" if want == "up" else last.startswith(("DOWN", "MAINT"))
            if done:
                print("load balancer marked %s/%s %s after %.2fs" % (args.backend, args.server, last, time.monotonic() - start))
                return
        if time.monotonic() - start > args.timeout:
            fail("load balancer did not mark %s/%s %s within %.0fs (last status: %s)"
                 % (args.backend, args.server, want, args.timeout, last))
        time.sleep(POLL)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def list_backups(root):
    """Complete backups in root, newest first (by their manifest's time)."""
    found = []
    try:
        names = os.listdir(root)
    except OSError:
        return []
    for name in names:
        manifest = os.path.join(root, name, "manifest.json")
        try:
            mtime = os.stat(manifest).st_mtime
        except OSError:
            continue
        info = read_json(manifest)
        found.append((mtime, name, {
            "path": os.path.join(root, name),
            "release_id": str(info.get("release_id", name)),
            "version": str(info.get("version", "unknown")),
        }))
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    return [f[2] for f in found]


def cmd_state(args):
    state = {"live": read_json(args.manifest), "health": fetch(args.health_url)}
    if args.backups:
        state["backups"] = list_backups(args.backups)
    print(json.dumps(state))


def cmd_out(args):
    with open(args.flag, "a", encoding="utf-8"):
        pass
    print("raised %s" % args.flag)
    wait_body(args.health_url, lambda b: b is None or args.out_body in b, args.local_timeout,
              "%r (is the flag file wired into the health check?)" % args.out_body)
    wait_l4(args, "down")


def cmd_in(args):
    if args.version_url and args.version:
        wait_body(args.version_url, lambda b: b is not None and args.version in b, args.local_timeout,
                  "version %r" % args.version)
    else:
        wait_body(args.health_url, lambda b: b is not None, args.local_timeout, "anything")
    try:
        os.remove(args.flag)
        print("lowered %s" % args.flag)
    except FileNotFoundError:
        pass
    wait_body(args.health_url, lambda b: b is not None and args.ok_body in b, args.local_timeout, repr(args.ok_body))
    wait_l4(args, "up")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["state", "out", "in"])
    parser.add_argument("--manifest", default="")
    parser.add_argument("--backups", default="")
    parser.add_argument("--flag", default="")
    parser.add_argument("--health-url", required=True)
    parser.add_argument("--ok-body", default="skp_healthcheck_ok")
    parser.add_argument("--out-body", default="out_of_service")
    parser.add_argument("--version-url", default="")
    parser.add_argument("--version", default="")
    parser.add_argument("--local-timeout", type=float, default=20)
    parser.add_argument("--stats-url", default="")
    parser.add_argument("--stats-socket", default="")
    parser.add_argument("--backend", default="")
    parser.add_argument("--server", default="")
    parser.add_argument("--fallback-seconds", type=float, default=0)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    {"state": cmd_state, "out": cmd_out, "in": cmd_in}[args.action](args)


if __name__ == "__main__":
    main()
