"""Benchmarks of emorec: scripts that write benchmarks/results/*.json (run as `python -m benchmarks.NAME`
where a script says so)."""
