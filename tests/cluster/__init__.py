"""A real single-node SLURM on localhost, started by hand for the cluster test (see slurm.py)."""
