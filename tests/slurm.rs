//! Real-cluster tests of the Slurm artifacts (see the tests below).
