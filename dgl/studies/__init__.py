"""The studies: one module each, holding the study's typed config, its cells (the jobs the
workflow runs), how each cell trains and is evaluated, and the study's tables.

- :mod:`dgl.studies.huang2021`: Huang et al. (NeurIPS 2021), Table 4;
- :mod:`dgl.studies.ground_truth`: the exact ground truth of the generators;
- :mod:`dgl.studies.main`: every training method x overlap x sample size, in regimes with and without a laziness gap;
- :mod:`dgl.studies.theory`: eta, gamma_S, sample size and the linear case.

Studies import the training and report layers and :mod:`synth`; they read and write no file
(the workflow scripts do, through :mod:`dgl.pipeline`).
"""
