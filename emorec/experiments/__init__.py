"""Orchestration above training, evaluation and export: whole experiments as one call.

- `ablation.run_ablation`: train and test several configs, one markdown table (the paper's tables).
- `demo.run_demo`: generate a small dataset, convert, train and evaluate it.

These are the only modules in `emorec` (with the CLI) that may import the dataset converter
`tfrecords_tools`.
"""
