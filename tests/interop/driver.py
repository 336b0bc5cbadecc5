"""The interop matrix: lp2p (Rust API peer and the lp2p-node CLI) against the
go, js and py peers, both dial directions, every combination both support.

Run by run.sh, which installs and builds everything first; this file only
starts processes and judges their output (Python standard library only).

  python3 driver.py --out MATRIX.json --known KNOWN.json --redis-stub PATH \
      --lp2p-peer PATH --lp2p-node PATH --go CMD --js CMD --py CMD

The lp2p-node rows run the CLI in its transport-interop mode (libp2p
test-plans' contract) for the handshake, with redis_stub.py in place of Redis:
as listener it publishes its address there; as dialer it reads the peer's
address from there and reports handshakePlusOneRTTMillis.

Each peer CMD is a shell-split command line ("node /x/peer.js"). A row is a
peer and a direction (who dials whom, and which lp2p side); a column is a
combination transport/security/muxer; a cell passes when every check passed.
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# What each side builds today. A combination runs when both sides of a row
# list it; lp2p's list grows as it gains mplex, TLS, QUIC and WebSocket, and
# a peer's list must name only what its program (go/, js/, py/) builds.
SUPPORT = {
    "lp2p": {"transport": ["tcp"], "security": ["noise"], "muxer": ["yamux"]},
    "go": {"transport": ["tcp", "ws"], "security": ["noise", "tls"], "muxer": ["yamux"]},
    "js": {"transport": ["tcp", "ws"], "security": ["noise", "tls"], "muxer": ["yamux"]},
    "py": {"transport": ["tcp"], "security": ["noise"], "muxer": ["yamux", "mplex"]},
}
CHECKS = ["handshake", "ping", "identify", "echo", "streams"]
ECHO_BYTES = 10 << 20
STREAM_COUNT = 50
STREAM_BYTES = 64 << 10
LISTEN_TIMEOUT_S = 30
DIAL_TIMEOUT_S = 120
# The whole matrix must fit the CI budget: once this is spent, the cells
# left fail at once (reported as failures, never skipped).
MATRIX_BUDGET_S = 420


def combos(peer):
    out = []
    for t in SUPPORT["lp2p"]["transport"]:
        for s in SUPPORT["lp2p"]["security"]:
            for m in SUPPORT["lp2p"]["muxer"]:
                theirs = SUPPORT[peer]
                if t in theirs["transport"] and s in theirs["security"] and m in theirs["muxer"]:
                    out.append((t, s, m))
    return out


def combo_args(combo):
    t, s, m = combo
    return ["--transport", t, "--security", s, "--muxer", m]


def combo_name(combo):
    return "/".join(combo)


class Redis:
    """A client for the few RESP commands of the transport-interop contract."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=LISTEN_TIMEOUT_S + 5)
        self.reader = self.sock.makefile("rb")

    def command(self, *args):
        msg = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            msg += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(msg)
        return self.reply()

    def reply(self):
        line = self.reader.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"*":
            return None if int(rest) < 0 else [self.reply() for _ in range(int(rest))]
        if kind == b"$":
            data = self.reader.read(int(rest) + 2)
            return data[:-2].decode()
        if kind == b"-":
            raise RuntimeError(f"redis: {rest.decode()}")
        return rest.decode()


def interop_env(combo, redis_port, dialer, timeout_s):
    """The environment of the test-plans transport-interop contract."""
    t, s, m = combo
    env = dict(os.environ)
    env.update(
        transport=t,
        security=s,
        muxer=m,
        is_dialer="true" if dialer else "false",
        ip="127.0.0.1",
        redis_addr=f"127.0.0.1:{redis_port}",
        test_timeout_seconds=str(timeout_s),
    )
    return env


class Listener:
    """A listening process whose first stdout line is {"addrs": [...]}, or
    (with redis) a transport-interop listener that publishes its address
    to the Redis list listenerAddr."""

    def __init__(self, argv, log_path, env=None, redis=None):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, start_new_session=True, env=env)
        self.redis = redis
        self.addr = None

    def wait_addr(self):
        if self.redis is not None:
            popped = self.redis.command("BLPOP", "listenerAddr", str(LISTEN_TIMEOUT_S))
            self.addr = popped[1] if popped else None
            return self.addr
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                return None
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            addrs = msg.get("addrs") or []
            if addrs:
                self.addr = addrs[0]
                return self.addr
        return None

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def run(argv, timeout):
    """Runs argv; returns (exit code or None on timeout, stdout, stderr)."""
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        err = (e.stderr or b"").decode(errors="replace")
        return None, out, err + f"\n(timed out after {timeout} s)"


def parse_checks(stdout):
    """The dialer contract: one {"check": NAME, "ok": bool, ...} line per check."""
    found = {}
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("check") in CHECKS:
            found[msg["check"]] = msg
    return found


def judge(found, code, expect_record):
    """A cell passes when every check reported ok and the dialer exited 0.
    expect_record: the listener is known to send a signed peer record, so
    identify must have verified one."""
    failures = []
    for name in CHECKS:
        c = found.get(name)
        if c is None:
            failures.append(f"{name}: not reported")
        elif not c.get("ok"):
            failures.append(f"{name}: {c.get('error', 'failed')}")
    ident = found.get("identify", {})
    if ident.get("ok") and expect_record and ident.get("signed_record") != "verified":
        failures.append(f"identify: signed peer record {ident.get('signed_record')}, expected verified")
    if code != 0 and not failures:
        failures.append(f"dialer exited with {code}")
    return failures


def cli_dial(lp2p_node, addr, combo, redis, redis_port):
    """lp2p-node as dialer: one command per check, reported in the dialer
    contract's shape. The handshake is the transport-interop mode's own
    measure."""
    found = {}
    redis.command("DEL", "listenerAddr")
    redis.command("RPUSH", "listenerAddr", addr)
    p = subprocess.run(
        [lp2p_node, "transport-interop"], capture_output=True, timeout=90, env=interop_env(combo, redis_port, True, 60)
    )
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    found["handshake"] = interop_result(p.returncode, out, err)
    if not found["handshake"]["ok"]:
        return found, err
    logs = [err]
    code, out, err = run([lp2p_node, "ping", addr, "--count", "3", "--json"], 60)
    logs.append(err)
    summary = [json.loads(x) for x in out.splitlines() if '"summary"' in x]
    if code == 0 and summary:
        found["ping"] = {"check": "ping", "ok": True, "rtt_ms": summary[0].get("median_ms")}
    else:
        found["ping"] = {"check": "ping", "ok": False, "error": err.strip()[-400:]}
    code, out, err = run([lp2p_node, "lookup", addr, "--json"], 60)
    logs.append(err)
    found["identify"] = cli_identify(code, out, err)
    code, out, err = run([lp2p_node, "echo", addr, "--bytes", str(ECHO_BYTES), "--streams", "1", "--json"], 120)
    logs.append(err)
    found["echo"] = {"check": "echo", "ok": code == 0, "bytes": ECHO_BYTES}
    if code != 0:
        found["echo"]["error"] = err.strip()[-400:]
    code, out, err = run(
        [lp2p_node, "echo", addr, "--bytes", str(STREAM_BYTES), "--streams", str(STREAM_COUNT), "--json"], 120
    )
    logs.append(err)
    found["streams"] = {"check": "streams", "ok": code == 0, "count": STREAM_COUNT}
    if code != 0:
        found["streams"]["error"] = err.strip()[-400:]
    return found, "\n".join(logs)


def interop_result(code, out, err):
    """The dialer's stdout must be exactly the contract's one JSON line."""
    lines = out.splitlines()
    try:
        result = json.loads(lines[0]) if code == 0 and len(lines) == 1 else None
    except ValueError:
        result = None
    if not isinstance(result, dict) or set(result) != {"handshakePlusOneRTTMillis", "pingRTTMilllis"}:
        return {"check": "handshake", "ok": False, "error": f"exit {code}, stdout {out!r}: {err.strip()[-300:]}"}
    return {
        "check": "handshake",
        "ok": True,
        "ms": result["handshakePlusOneRTTMillis"],
        "ping_rtt_ms": result["pingRTTMilllis"],
        "via": "lp2p-node transport-interop",
    }


def cli_identify(code, out, err):
    if code != 0:
        return {"check": "identify", "ok": False, "error": err.strip()[-400:]}
    try:
        info = json.loads(out.splitlines()[0])
    except (ValueError, IndexError):
        return {"check": "identify", "ok": False, "error": f"unreadable lookup output {out!r}"}
    protocols = info.get("protocols", [])
    result = {
        "check": "identify",
        "ok": True,
        "agent": info.get("agent_version"),
        "protocols": protocols,
        "listen_addrs": info.get("listen_addrs", []),
        # lp2p-node shows the record's addresses only once its signature verified.
        "signed_record": "verified" if info.get("signed_record_addrs") else "none",
    }
    missing = [p for p in ("/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/echo/1.0.0") if p not in protocols]
    if not info.get("agent_version"):
        result.update(ok=False, error="no agent version")
    elif missing:
        result.update(ok=False, error=f"protocols {protocols} lack {missing}")
    elif not info.get("listen_addrs"):
        result.update(ok=False, error="no listen addresses")
    return result


def run_cell(args, peer, peer_cmd, lp2p_side, direction, combo, tmp):
    """One cell: start the listener, run the dialer, judge its checks."""
    tag = f"{peer}-{lp2p_side}-{direction}-{combo_name(combo).replace('/', '-')}"
    log_path = os.path.join(tmp, tag + ".listener.log")
    if direction == "lp2p-dials":
        listener = Listener(peer_cmd + ["listen"] + combo_args(combo), log_path)
    elif lp2p_side == "rust":
        listener = Listener([args.lp2p_peer, "listen"] + combo_args(combo), log_path)
    else:
        # lp2p-node listens in its transport-interop mode, which serves echo
        # too, and publishes its address through the Redis stand-in.
        args.redis.command("DEL", "listenerAddr")
        env = interop_env(combo, args.redis_port, False, 300)
        listener = Listener([args.lp2p_node, "transport-interop"], log_path, env=env, redis=args.redis)
    try:
        addr = listener.wait_addr()
        if addr is None:
            return {"failures": ["listener printed no address"], "log": open(listener.log.name).read()[-2000:]}
        if direction == "lp2p-dials" and lp2p_side == "cli":
            found, log = cli_dial(args.lp2p_node, addr, combo, args.redis, args.redis_port)
            code = 0 if all(c.get("ok") for c in found.values()) else 1
        else:
            dialer = [args.lp2p_peer, "dial", addr] if direction == "lp2p-dials" else peer_cmd + ["dial", addr]
            code, out, log = run(dialer + combo_args(combo), DIAL_TIMEOUT_S)
            found = parse_checks(out)
        # Every listener in the matrix sends a signed peer record (go, js, py
        # and lp2p do), so every dialer must have verified one.
        failures = judge(found, code, expect_record=True)
        cell = {"checks": found, "failures": failures}
        if failures:
            cell["log"] = log[-3000:] + "\n--- listener ---\n" + open(listener.log.name).read()[-2000:]
        return cell
    finally:
        listener.stop()


def known_failure(known, row, combo, failures):
    for k in known:
        if k["row"] == row and k["combination"] == combo_name(combo):
            if all(any(f.startswith(c + ":") for c in k["checks"]) for f in failures):
                return k
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--known", required=True)
    ap.add_argument("--lp2p-peer", required=True)
    ap.add_argument("--lp2p-node", required=True)
    ap.add_argument("--go", required=True)
    ap.add_argument("--js", required=True)
    ap.add_argument("--py", required=True)
    ap.add_argument("--redis-stub", required=True)
    args = ap.parse_args()
    stub = subprocess.Popen([sys.executable, args.redis_stub, "--seconds", "3600"], stdout=subprocess.PIPE)
    try:
        args.redis_port = int(stub.stdout.readline())
        args.redis = Redis(args.redis_port)
        return run_matrix(args)
    finally:
        stub.kill()
        stub.wait()


def run_matrix(args):
    with open(args.known) as f:
        known = json.load(f)["known_failures"]
    peers = {"go": shlex.split(args.go), "js": shlex.split(args.js), "py": shlex.split(args.py)}

    print("peers: " + ", ".join(f"{k} {v}" for k, v in pinned_versions().items()), flush=True)
    tmp = tempfile.mkdtemp(prefix="lp2p-interop-")
    matrix_start = time.monotonic()
    rows, columns = [], []
    passed = failed = known_failed = 0
    for peer, cmd in peers.items():
        for side in ("rust", "cli"):
            lp2p_name = "lp2p" if side == "rust" else "lp2p-node"
            for direction in ("lp2p-dials", "peer-dials"):
                row = f"{lp2p_name} -> {peer}" if direction == "lp2p-dials" else f"{peer} -> {lp2p_name}"
                cells = {}
                for combo in combos(peer):
                    if combo_name(combo) not in columns:
                        columns.append(combo_name(combo))
                    start = time.monotonic()
                    try:
                        if time.monotonic() - matrix_start > MATRIX_BUDGET_S:
                            raise TimeoutError(f"the matrix's {MATRIX_BUDGET_S} s budget was spent before this cell")
                        cell = run_cell(args, peer, cmd, side, direction, combo, tmp)
                    except Exception as err:  # a broken cell must not hide the others
                        cell = {"checks": {}, "failures": [f"driver: {type(err).__name__}: {err}"], "log": ""}
                    cell["seconds"] = round(time.monotonic() - start, 2)
                    hs = cell["checks"].get("handshake", {}) if "checks" in cell else {}
                    cell["handshake_plus_one_rtt_ms"] = hs.get("ms")
                    if not cell["failures"]:
                        cell["result"] = "pass"
                        passed += 1
                        if any(k["row"] == row and k["combination"] == combo_name(combo) for k in known):
                            print(f"NOTE: {row} [{combo_name(combo)}] passes but is listed in {args.known}: remove it")
                    elif (k := known_failure(known, row, combo, cell["failures"])) is not None:
                        cell["result"] = "known-failure"
                        cell["known"] = k
                        known_failed += 1
                    else:
                        cell["result"] = "fail"
                        failed += 1
                    cells[combo_name(combo)] = cell
                    status = cell["result"].upper() if cell["result"] != "pass" else "ok"
                    print(f"{status}: {row} [{combo_name(combo)}] {cell['seconds']} s", flush=True)
                    for f in cell["failures"]:
                        print(f"    {f}", flush=True)
                    if cell["result"] == "fail":
                        print("    " + cell.get("log", "").replace("\n", "\n    ")[-3000:], flush=True)
                rows.append({"row": row, "peer": peer, "lp2p_side": side, "direction": direction, "cells": cells})

    print_matrix(rows, columns)
    lp2p = SUPPORT["lp2p"]
    print(
        "combinations run: those both sides build; lp2p builds "
        + ", ".join(f"{k} {'/'.join(v)}" for k, v in lp2p.items())
        + " (mplex, TLS, QUIC and WebSocket columns appear as lp2p gains them; see SUPPORT in driver.py)"
    )
    result = {
        "columns": columns,
        "rows": rows,
        "passed": passed,
        "failed": failed,
        "known_failures": known_failed,
        "versions": pinned_versions(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"matrix written to {args.out}")
    if known_failed:
        # Counted apart: each is listed with its reason and upstream issue.
        print(f"{known_failed} known failure(s) of other implementations, listed in {args.known}")
    if failed or known_failed:
        print(f"process logs of this run: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"interop: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def pinned_versions():
    """The versions the peers were built from, read from their pin files."""
    here = os.path.dirname(os.path.abspath(__file__))
    versions = {}
    with open(os.path.join(here, "go", "go.mod")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "github.com/libp2p/go-libp2p":
                versions["go-libp2p"] = parts[1]
    with open(os.path.join(here, "js", "package.json")) as f:
        versions["js-libp2p"] = json.load(f)["dependencies"]["libp2p"]
    with open(os.path.join(here, "py", "requirements.txt")) as f:
        for line in f:
            if line.startswith("libp2p=="):
                versions["py-libp2p"] = line.strip().split("==")[1]
    return versions


def print_matrix(rows, columns):
    width = max(len(r["row"]) for r in rows) + 2
    print()
    print("".ljust(width) + "".join(c.ljust(24) for c in columns))
    for r in rows:
        line = r["row"].ljust(width)
        for c in columns:
            cell = r["cells"].get(c)
            if cell is None:
                text = "-"
            elif cell["result"] == "pass":
                ms = cell.get("handshake_plus_one_rtt_ms")
                text = f"pass {ms:.1f} ms" if isinstance(ms, (int, float)) else "pass"
            else:
                text = cell["result"]
            line += text.ljust(24)
        print(line)
    print()


if __name__ == "__main__":
    sys.exit(main())
