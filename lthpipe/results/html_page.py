"""Markdown as a standalone HTML page for Snakemake's report: the study's summary
(lthpipe.results.summary) and a suite's (lthpipe.suite_report)."""

from __future__ import annotations

import html


def markdown_to_html(text: str, title: str) -> str:
    """A summary's markdown (headings, paragraphs and pipe tables, as the summaries
    write them) as a standalone HTML page, for the report."""
    body, table = [], []

    def flush_table() -> None:
        if table:
            head, *rows = [[html.escape(c.strip()) for c in line.strip("|").split("|")] for line in table if "---" not in line]
            body.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
                        + "</tbody></table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:1em 0;font-size:90%}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
