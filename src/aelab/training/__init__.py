"""Training: the run's config and recipes, the plain loop and the fused step, the trainer,
batch sources, runtime, several processes, checkpoints, resume and interrupts.

Read :mod:`.plain_loop` first: it is the whole method in the lab's own style. The rest makes
the same thing fast (:mod:`.fused_step`, :mod:`.cuda_graph`), safe to stop and resume
(:mod:`.checkpoint`, :mod:`.resume`, :mod:`.interrupts`) and parallel (:mod:`.distributed`).
Importing this package is free (no torch).
"""
