"""Deciding: the approval gate (Airflow's human-in-the-loop), its answers and its timeouts."""
