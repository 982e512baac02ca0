/* worker-batch.h: the worker run by a Slurm job on a chunk file (slurm.h). */
#pragma once

/* Process every PDF CHUNK_PATH lists; returns the exit status. */
int worker_batch_run(const char *chunk_path);
