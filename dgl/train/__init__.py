"""The training layer: models, methods, the one batched trainer, heads and probes on frozen
encoders, and the trained-stack record.

- :mod:`dgl.train.models`: :class:`ModelConfig` and a stack of E late-fusion models;
- :mod:`dgl.train.losses`: per-model losses and accuracy;
- :mod:`dgl.train.methods`: training methods registered by name;
- :mod:`dgl.train.trainer`: the batched trainer (early stopping, divergence, gradient probes);
- :mod:`dgl.train.stack`: a stack's plan, its training and its trained record;
- :mod:`dgl.train.heads`, :mod:`dgl.train.probes`: least-squares heads and logistic probes;
- :mod:`dgl.train.heap`: freed memory kept for reuse (the trainer's and the jobs' allocator policy).

It imports only :mod:`synth` and never reads or writes a file.
"""
