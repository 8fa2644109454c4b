"""The layer under every stage: what extract, validate, archive, sql, search and publish share.

- `errors`: the one user-facing exception, exit codes, environment refusals as one line;
- `schema`: the article schema (and any JSON Schema a user passes);
- `progress`: progress bars on a terminal only;
- `jsonl`: JSON Lines inputs read as blocks of whole lines, with exact line numbers;
- `executor`: one executor for every stage (`default_jobs`, the fork/spawn rule, workers' set-up,
  ordered results, bounded work in flight, a worker's death as one line), on this machine's
  processes or, with `--executor ray`, a Ray cluster (`_ray`, imported only then);
- `outputs`: refusals of outputs that would overwrite inputs or archive tables, and `atomic_write`,
  the one write-to-temp-then-rename;
- `interrupts`: Ctrl-C and SIGTERM around commits, and the test-only fault hook.

Nothing here imports a stage: stages import `toolkit.core` and the public API of earlier stages
(tests/test_layering.py checks it).
"""
