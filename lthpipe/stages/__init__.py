"""The stages that run in torch jobs, one function per Snakemake rule (which one:
lthpipe.rule_functions), in modules along what a change should rerun, since a
rule's code hash covers the modules its function's module reaches
(lthpipe.provenance): data, training, figures, exports, benchmark, analyses."""
