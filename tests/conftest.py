import mmtheory  # noqa: F401  (the suite stops at once if `dgl` is the Deep Graph Library)
