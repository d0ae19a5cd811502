"""`vfrepro provenance`: what a study's results were made with (config, seeds, software, code,
hardware, weights), as JSON and/or Markdown."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "provenance", help="record config, seeds, package versions, git commit, hardware, weights",
        description="Write the provenance record of one study branch: the resolved config and its "
        "sha256, every seed, package versions, the git commit of the workflow, the hardware of "
        "this machine and the weights used (path + sha256, or 'random init').")
    p.add_argument("--config-json", required=True, help="the resolved Snakemake config (JSON file)")
    p.add_argument("--study", required=True, help="study branch name (its config section)")
    p.add_argument("--repo", default=None, help="workflow checkout for `git rev-parse HEAD` "
                   "(default: none -> commit 'unknown')")
    p.add_argument("--outputs", nargs="*", default=[], help="result files to list with their sha256")
    p.add_argument("--out", nargs="+", required=True, help="files to write: .json and/or .md")
    p.set_defaults(func=run)


def run(args) -> int:
    from vfrepro.provenance import collect, write

    config = json.loads(Path(args.config_json).read_text())
    if args.study not in config:
        raise SystemExit(f"provenance: study {args.study!r} has no section in the config")
    record = collect(config, args.study, repo=args.repo, workdir=Path.cwd(), outputs=args.outputs)
    for out in args.out:
        write(record, out)
    return 0
