#!/usr/bin/env python3
"""compare.py WALK.jsonl SNAPDIR... — checks rr_walk output against restic.

Each SNAPDIR holds `ls.json` (restic ls --json of one snapshot), `restore/`
(what restic restore wrote for it) and `id` (the snapshot's full id).  For every
snapshot: the walker's nodes must equal restic's listing (names, types, sizes,
modes, owners, times) and the restored tree (contents, link targets, modes,
owners, mtimes, xattrs, device numbers, hard-link groups).  Prints one line per
failed check and a closing "N passed, N failed" line; exit status 1 on failure.
"""
import hashlib
import json
import os
import stat
import sys

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def go_time(s):
    """RFC 3339 with up to 9 fraction digits → (sec, nsec), any year."""
    date, _, rest = s.partition("T")
    y, mo, d = (int(x) for x in date.split("-"))
    if rest.endswith("Z"):
        clock, off = rest[:-1], 0
    else:
        sign = 1 if rest[-6] == "+" else -1
        oh, om = int(rest[-5:-3]), int(rest[-2:])
        clock, off = rest[:-6], sign * (oh * 3600 + om * 60)
    hms, _, frac = clock.partition(".")
    h, mi, se = (int(x) for x in hms.split(":"))
    nsec = int((frac + "000000000")[:9]) if frac else 0
    # days from civil (proleptic Gregorian)
    yy = y - (mo <= 2)
    era = (yy if yy >= 0 else yy - 399) // 400
    yoe = yy - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + h * 3600 + mi * 60 + se - off, nsec


def go_perm(m):
    r = m & 0o777
    if m & (1 << 23):
        r |= stat.S_ISUID
    if m & (1 << 22):
        r |= stat.S_ISGID
    if m & (1 << 20):
        r |= stat.S_ISVTX
    return r


TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
         stat.S_IFBLK: "dev", stat.S_IFCHR: "chardev", stat.S_IFIFO: "fifo",
         stat.S_IFSOCK: "socket"}


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def compare_snapshot(name, nodes, sdir):
    ls = [json.loads(l) for l in open(os.path.join(sdir, "ls.json"), encoding="utf-8")]
    lsnodes = {n["path"]: n for n in ls if n.get("struct_type") == "node"}
    mine = {}
    for n in nodes:
        p = bytes.fromhex(n["path"])
        mine[p.decode("utf-8", "replace")] = n
        for bad in ("error", "lookup_mismatch", "getattr_mismatch", "readdir_error"):
            check(bad not in n, f"{name} {p!r}: {bad} {n.get(bad)}")
    check(set(mine) == set(lsnodes),
          f"{name}: paths differ: only walker {sorted(set(mine) - set(lsnodes))[:5]} "
          f"only restic {sorted(set(lsnodes) - set(mine))[:5]}")
    for path, l in lsnodes.items():
        n = mine.get(path)
        if n is None:
            continue
        what = f"{name} {path!r}"
        check(n["type"] == l["type"], f"{what}: type {n['type']} != {l['type']}")
        if l["type"] == "file":
            check(n["size"] == l.get("size", 0), f"{what}: size {n['size']} != {l.get('size')}")
        check(n["mode"] & 0o7777 == go_perm(l.get("mode", 0)),
              f"{what}: mode {n['mode']:o} != go {l.get('mode')}")
        check(n["uid"] == l["uid"] and n["gid"] == l["gid"], f"{what}: owner")
        for k in ("mtime", "atime", "ctime"):
            if k in l:
                check(tuple(n[k]) == go_time(l[k]), f"{what}: {k} {n[k]} != {l[k]}")

    # the restored tree
    root = os.fsencode(os.path.join(sdir, "restore"))
    groups = {}
    for n in nodes:
        p = bytes.fromhex(n["path"])
        rp = root + p
        what = f"{name} {p!r}"
        try:
            st = os.lstat(rp)
        except OSError as e:
            if n["type"] == "socket":
                continue
            check(False, f"{what}: not restored ({e})")
            continue
        check(TYPES.get(stat.S_IFMT(st.st_mode)) == n["type"], f"{what}: restored type")
        check(stat.S_IMODE(st.st_mode) == n["mode"] & 0o7777 or n["type"] == "symlink",
              f"{what}: restored mode {stat.S_IMODE(st.st_mode):o} != {n['mode'] & 0o7777:o}")
        if os.geteuid() == 0:
            check((st.st_uid, st.st_gid) == (n["uid"], n["gid"]), f"{what}: restored owner")
        if n["type"] in ("file", "fifo", "chardev", "dev", "dir"):
            want = n["mtime"][0] * 10**9 + n["mtime"][1]
            check(st.st_mtime_ns == want, f"{what}: restored mtime {st.st_mtime_ns} != {want}")
        if n["type"] == "file":
            check(st.st_size == n["size"], f"{what}: restored size")
            check(n.get("sha256") == sha256_file(rp), f"{what}: content differs")
            check(st.st_nlink == n["nlink"], f"{what}: nlink {n['nlink']} != {st.st_nlink}")
            groups.setdefault(n["node"], set()).add((st.st_dev, st.st_ino))
        if n["type"] == "symlink":
            check(os.readlink(rp) == bytes.fromhex(n.get("target", "")), f"{what}: link target")
            check(n["size"] == len(os.readlink(rp)), f"{what}: symlink size")
        if n["type"] in ("chardev", "dev"):
            check(st.st_rdev == n["rdev"], f"{what}: rdev {n['rdev']} != {st.st_rdev}")
        if n["type"] in ("file", "dir"):
            try:
                names = os.listxattr(rp, follow_symlinks=False)
            except OSError:
                names = []
            got = {k: os.getxattr(rp, k, follow_symlinks=False).hex() for k in names
                   if k.startswith("user.")}
            check(got == n.get("xattrs", {}), f"{what}: xattrs {n.get('xattrs')} != {got}")
    # one node handle per restored inode, and the other way round
    inodes = {}
    for h, s in groups.items():
        check(len(s) == 1, f"{name}: node {h} restored as several inodes")
        for i in s:
            inodes.setdefault(i, set()).add(h)
    for i, hs in inodes.items():
        check(len(hs) == 1, f"{name}: inode {i} has several node handles {hs}")


def main():
    walk = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"snap"')]
    by_snap = {}
    for n in walk:
        by_snap.setdefault(n["snap"], []).append(n)
    for sdir in sys.argv[2:]:
        sid = open(os.path.join(sdir, "id")).read().strip()
        names = [s for s in by_snap if s.endswith("-" + sid[:8]) or s.endswith("-" + sid)]
        check(len(names) == 1, f"snapshot {sid[:8]} shown {len(names)} times")
        if names:
            compare_snapshot(names[0], by_snap[names[0]], sdir)
    check(len(by_snap) == len(sys.argv) - 2, f"{len(by_snap)} snapshots walked")
    print(f"compare: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
