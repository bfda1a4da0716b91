"""Scale-out on Ray: batch scoring, history preparation, benchmark jobs and supervised live workers.

This layer sits above the ones it drives (data, sequences, models, evaluation, streaming,
service) and below the CLI; each module gives a stage a `ray` engine whose output equals the
local engine's. Ray is an optional dependency (`pip install 'neighborwatch[scale]'`), imported
only when an engine needs it (`cluster.ray_module`).
"""
