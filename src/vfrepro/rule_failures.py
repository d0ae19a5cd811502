"""What failed in a Snakemake run, in a few lines: each failed job's log and its first error.

The Snakefile's ``onerror:`` handler calls `print_failures` with the run's main log (Snakemake
passes its path). Snakemake itself only says "check log file(s) for error details", and the
default workflow profile (profiles/default: ``quiet: [rules]``) hides even that block; this
prints, per failed job, the log path and the line of the log that says what went wrong
(``error: ...`` from a vfrepro command, an ``InputError``, or a traceback's last line).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# The line of a job log that says what went wrong, in order of preference.
_ERROR_LINE = re.compile(r"^\s*(error:|\S.* refused:|manifest rejected:|stopping)", re.IGNORECASE)
_NAMED_ERROR = re.compile(r"\b(InputError|[A-Z]\w*(Error|Exception))\b")
# "Error in rule NAME:" blocks (default console) and the failed shell command (also printed
# when rules are quiet); the job's log is where the command redirects its output.
_ERROR_IN_RULE = re.compile(r"^Error in rule (\S+?):\s*$")
_LOG_FIELD = re.compile(r"^\s+log: (.+?)(?: \(check log file\(s\) for error details\))?\s*$")
_COMMAND = re.compile(r"^Command '(.*)' (?:returned non-zero exit status (\d+)|died with <Signals\.(\w+): \d+>)")
_REDIRECT = re.compile(r">\s*('(?:[^']|'\\'')*'|\S+)\s+2>&1")


def first_error(log_text: str) -> str | None:
    """The line of a job log that names the problem, or None when it has none."""
    lines = [ln.rstrip() for ln in log_text.splitlines()]
    for ln in lines:
        if _ERROR_LINE.match(ln):
            return ln.strip()
    # a traceback: its last non-indented line is the exception and its message
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Traceback (most recent call last)"):
            tail = [ln for ln in lines[i + 1:] if ln.strip() and not ln.startswith((" ", "\t"))]
            if tail:
                return tail[0].strip() if len(tail) == 1 else tail[-1].strip()
    for ln in reversed(lines):
        if _NAMED_ERROR.search(ln):
            return ln.strip()
    # the shell's own words (a command not found, a signal): the log's last line
    for ln in reversed(lines):
        if ln.strip() and ("bash:" in ln or "Killed" in ln or "not found" in ln):
            return ln.strip()
    return None


def _unquote(word: str) -> str:
    if word.startswith("'") and word.endswith("'"):
        return word[1:-1].replace("'\\''", "'")
    return word


def failed_jobs(main_log_text: str) -> list[dict]:
    """[{rule, logs, command}] of the failed jobs a Snakemake main log reports (in order)."""
    jobs: list[dict] = []
    lines = main_log_text.splitlines()
    i = 0
    while i < len(lines):
        m = _ERROR_IN_RULE.match(lines[i])
        c = _COMMAND.match(lines[i])
        if m:
            job = {"rule": m.group(1), "logs": [], "command": None}
            i += 1
            while i < len(lines) and (lines[i].startswith((" ", "\t")) or not lines[i].strip()):
                f = _LOG_FIELD.match(lines[i])
                if f:
                    job["logs"] = [s.strip() for s in f.group(1).split(",") if s.strip()]
                i += 1
            # the same job's command line came just before: merge instead of listing it twice
            if jobs and jobs[-1]["rule"] is None and set(jobs[-1]["logs"]) <= set(job["logs"]):
                prev = jobs.pop()
                job["command"], job["signal"] = prev["command"], prev.get("signal")
            jobs.append(job)
            continue
        if c:
            cmd = c.group(1)
            logs = [_unquote(w) for w in _REDIRECT.findall(cmd)]
            words = re.findall(r"\bvfrepro(?:\s+[a-z][\w-]*){1,2}", cmd)
            jobs.append({"rule": None, "logs": logs, "command": words[0] if words else None,
                         "signal": c.group(3)})
        i += 1
    return jobs


def _newest_error_logs(root: Path, since: float, limit: int = 5) -> list[Path]:
    """Logs under root/logs written since `since` that hold an error line (newest first)."""
    found = []
    for p in (root / "logs").rglob("*.log") if (root / "logs").is_dir() else []:
        try:
            if p.stat().st_mtime >= since:
                found.append(p)
        except OSError:
            continue
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [p for p in found if first_error(_read(p) or "")][:limit]


def _started(main_log: Path) -> float:
    """When the run began, from the main log's name (2026-12-01T105458.140497.snakemake.log)."""
    import datetime

    m = re.match(r"(\d{4}-\d\d-\d\dT\d{6}\.\d+)\.snakemake\.log$", main_log.name)
    if not m:
        return 0.0
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H%M%S.%f").timestamp() - 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def summarize(main_logs, workdir: str | os.PathLike = ".") -> list[str]:
    """Lines to print: per failed job, its log path and first error line."""
    root = Path(workdir)
    out = []
    mains = [Path(p) for p in (main_logs if isinstance(main_logs, (list, tuple)) else [main_logs]) if p]
    jobs = []
    for m in mains:
        jobs += failed_jobs(_read(m) or "")
    seen = set()
    for job in jobs:
        name = job["rule"] or job["command"] or "a job"
        if not job["logs"]:
            continue
        for log in job["logs"]:
            if log in seen:
                continue
            seen.add(log)
            text = _read(root / log)
            line = first_error(text) if text is not None else None
            if not line and job.get("signal"):
                line = f"killed by {job['signal']} (the job was stopped from outside; rerun the same command)"
            out.append(f"failed: {name}: {log}: {line or ('log not written' if text is None else 'no error line; see the log')}")
    if not out:
        since = min((_started(m) for m in mains), default=0.0)
        for p in _newest_error_logs(root, since):
            out.append(f"failed: {p.relative_to(root)}: {first_error(_read(p) or '')}")
    return out


def print_failures(main_logs, workdir: str | os.PathLike = ".", stream=None) -> list[str]:
    """The ``onerror:`` handler: print `summarize` to stderr (nothing when nothing is found)."""
    lines = summarize(main_logs, workdir)
    stream = stream or sys.stderr
    if lines:
        print("\n".join(["", "== what failed (first error line of each job's log) =="] + lines), file=stream)
        print("(for the full job blocks: rerun with --workflow-profile none, or read the logs above)", file=stream)
    return lines
