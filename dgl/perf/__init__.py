"""Performance tools (command-line entry points): the engine benchmark
(``python -m dgl.perf.bench``) and the study's cost against its grid size
(``python -m dgl.perf.scaling``)."""
