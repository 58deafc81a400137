"""Training in several processes: accelerate launches the ranks, rank 0 records, every rank agrees on control."""
