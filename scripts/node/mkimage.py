#!/usr/bin/env python3
"""Turns a root filesystem directory into a one-layer image tarball in `docker save` format
(docker-archive), which `ctr images import`, `buildah pull docker-archive:` and `docker load`
accept. No registry, no daemon: the standard library and GNU tar.

usage: mkimage.py ROOTFS REF OUT.tar [--cmd JSON] [--entrypoint JSON] [--env K=V]... [--user U]
                  [--label K=V]...

The layer is reproducible (sorted names, fixed mtimes): the same rootfs gives the same digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import tempfile


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("rootfs")
    p.add_argument("ref")
    p.add_argument("out")
    p.add_argument("--cmd", default='["/bin/sh"]')
    p.add_argument("--entrypoint", default=None)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--user", default="")
    p.add_argument("--workdir", default="/")
    a = p.parse_args()

    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(a.out))) as tmp:
        layer = os.path.join(tmp, "layer.tar")
        subprocess.run(
            ["tar", "--numeric-owner", "--sort=name", "--mtime=@0", "--xattrs",
             "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
             "-C", a.rootfs, "-cf", layer, "."],
            check=True,
        )  # fmt: skip
        diff_id = sha256_file(layer)
        env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
        env += a.env
        cfg: dict[str, object] = {"Env": env, "Cmd": json.loads(a.cmd), "WorkingDir": a.workdir}
        if a.entrypoint:
            cfg["Entrypoint"] = json.loads(a.entrypoint)
        if a.user:
            cfg["User"] = a.user
        if a.label:
            cfg["Labels"] = dict(item.split("=", 1) for item in a.label)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "mkimage.py"}],
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = hashlib.sha256(config_bytes).hexdigest()
        os.mkdir(os.path.join(tmp, diff_id))
        os.rename(layer, os.path.join(tmp, diff_id, "layer.tar"))
        with open(os.path.join(tmp, f"{config_digest}.json"), "wb") as f:
            f.write(config_bytes)
        manifest = [
            {
                "Config": f"{config_digest}.json",
                "RepoTags": [a.ref],
                "Layers": [f"{diff_id}/layer.tar"],
            }
        ]
        with open(os.path.join(tmp, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        subprocess.run(
            ["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C", tmp,
             "-cf", a.out + ".tmp", "manifest.json", f"{config_digest}.json", diff_id],
            check=True,
        )  # fmt: skip
        os.replace(a.out + ".tmp", a.out)
    print(f"{a.out}: {a.ref} config sha256:{config_digest}")


if __name__ == "__main__":
    main()
