"""The reporting stages: from the training stages' JSON records to the width choice,
result rows, per-method summaries with paired confidence intervals, and figures. No
torch here, so these jobs start fast.

One module per rule (lthpipe.rule_functions), so that a rule's code hash
(lthpipe.provenance) covers only what it runs: width (select_width), aggregate,
summary (summarize), instability (summarize_instability); beside them the paired
comparisons (compare) and the HTML page (html_page). This file imports none of them:
every module here runs it.
"""
