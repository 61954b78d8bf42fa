"""A suite member that fails after its data were accepted (lthpipe.suite_report).

It has no record, and Snakemake runs no job that waits for a failed one, so the
suite_summary job cannot run. When a run fails, the workflow's `onerror` handler
(rules/common.smk) writes each affected suite's summary itself (after_failure): the
members that finished, each failed one with the error its job's log ends with, and
the members the run never reached; with --keep-going, every other member finishes
first. Those files are dated 1970, so the next run rebuilds the summary.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lthpipe.artifacts import read_json
from lthpipe.suite_report import member_about, suite_answer, write_summary

# A job log's failure (lthpipe.jobs.job): "ERROR failed" then a traceback, or "ERROR refused: why";
# its first record names the rule. A traceback's lines are the ones that are not log records.
FAILED = re.compile(r" ERROR (?:failed$|refused: (.*))")
RULE_LINE = re.compile(r" INFO rule (\w+),")
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def failure(logs: Path, since: float) -> str | None:
    """What made one of a member's jobs fail in this run: "rule: the error's last line"
    from the newest log under `logs` written since `since` that records a failure
    (lthpipe.jobs.job), None when none does."""
    failed = []
    for log in Path(logs).rglob("*.log"):
        written = log.stat().st_mtime
        if written < since:
            continue
        lines = log.read_text(errors="replace").splitlines()
        errors = [(i, match) for i, match in enumerate(map(FAILED.search, lines)) if match]
        if not errors:
            continue
        last, match = errors[-1]
        after = [line for line in lines[last + 1:] if line and not line[0].isspace() and not LOG_RECORD.match(line)]
        cause = f"refused: {match[1]}" if match[1] else (after[-1] if after else "failed (no message in its log)")
        rule = RULE_LINE.search(lines[0])
        failed.append((written, f"{rule[1] if rule else log.stem}: {cause}"))
    return max(failed)[1] if failed else None


def after_failure(suite: dict, since: float, root: Path = Path("artifacts")) -> list[str]:
    """After a failed run, the suite's summary with what its members got to (see the
    module's docstring), written when one of its members failed since `since`; the
    members that failed."""
    folder = root / "suites" / suite["suite"]
    records, failed = [], []
    for member in suite["members"]:
        path = folder / "members" / f"{member['name']}.json"
        if path.exists():
            records.append(read_json(path))
            continue
        about = member_about(suite["suite"], member)
        message = failure(root / member["name"] / "logs", since)
        if message is None:
            records.append({**about, "status": "not_run",
                            "message": "not reached: the run stopped at another job's failure (--keep-going runs it)"})
        else:
            records.append({**about, "status": "failed", "message": message})
            failed.append(member["name"])
    if failed:
        outputs = [folder / f"summary.{ext}" for ext in ("md", "html", "png", "json")]
        write_summary(suite_answer(suite, records), *outputs)
        for path in outputs:  # older than any input: the next run rebuilds the summary
            os.utime(path, (0, 0))
    return failed
