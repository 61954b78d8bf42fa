"""Figures, each drawn from records alone (a dataset's ``summary.json``, the width
search's records, the inference benchmark's rows) and written as one PNG.

Every figure has a builder ``name_figure(...) -> Figure`` (tests inspect what it
drew) and a writer ``name_plot(..., path)``. Methods keep the registry's colour,
marker and words (lthpipe.lottery) in every figure; one-shot pruning is drawn
solid and iterative pruning dashed; the fraction of weights retained is a log
axis with pruning proceeding to the right, as in Frankle & Carbin's figures.
Free of torch and of pyplot's global state: figures are plain ``Figure`` objects.

One module per kind of record, so that a rule's code hash (lthpipe.provenance)
covers only the figures it draws: common (what every figure shares), width,
curves, masks, regions, inference, instability, alignment. This file imports none
of them: every figure module runs it, so an import here would put every figure
behind every rule that draws one.
"""
