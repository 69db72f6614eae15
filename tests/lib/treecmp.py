#!/usr/bin/env python3
"""treecmp.py A B — compares two trees node by node, as a backup tool would
see them: names, types, sizes, contents, permission bits (setuid, setgid,
sticky included), owners, mtimes (to the second, pre-1970 too), symlink
targets, device numbers, xattrs, and hard-link groups (paths sharing an inode
in A must share one in B and the reverse).  Prints each difference and exits 1
when there is any."""
import hashlib
import os
import stat
import sys


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in names:
        if n.startswith("security.") or n.startswith("system."):
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            pass
    return out


def walk(root):
    nodes = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            nodes[os.path.relpath(p, root)] = p
    return nodes


def describe(path):
    st = os.lstat(path)
    d = {
        "type": stat.S_IFMT(st.st_mode),
        "perm": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime": int(st.st_mtime) if not stat.S_ISLNK(st.st_mode) else None,
        "xattrs": xattrs(path),
    }
    if stat.S_ISREG(st.st_mode):
        d["size"] = st.st_size
        d["sha256"] = digest(path)
    elif stat.S_ISLNK(st.st_mode):
        d["target"] = os.readlink(os.fsencode(path))
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
    if stat.S_ISDIR(st.st_mode):
        d.pop("mtime")   # restore touches directories after their content
    return d, (st.st_ino if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode) else None)


def main():
    a_root, b_root = sys.argv[1], sys.argv[2]
    a, b = walk(a_root), walk(b_root)
    bad = 0
    for rel in sorted(set(a) | set(b)):
        if rel not in a or rel not in b:
            print(f"only in {'B' if rel not in a else 'A'}: {rel!r}")
            bad += 1
    groups_a, groups_b = {}, {}
    for rel in sorted(set(a) & set(b)):
        da, ia = describe(a[rel])
        db, ib = describe(b[rel])
        if da != db:
            diff = {k: (da.get(k), db.get(k)) for k in set(da) | set(db) if da.get(k) != db.get(k)}
            print(f"differs: {rel!r}: {diff}")
            bad += 1
        if ia is not None:
            groups_a.setdefault(ia, set()).add(rel)
        if ib is not None:
            groups_b.setdefault(ib, set()).add(rel)
    ga = sorted(sorted(g) for g in groups_a.values())
    gb = sorted(sorted(g) for g in groups_b.values())
    if ga != gb:
        print(f"hard-link groups differ: {ga} vs {gb}")
        bad += 1
    print(f"{len(set(a) & set(b))} nodes compared, {bad} differences")
    return 1 if bad else 0


sys.exit(main())
