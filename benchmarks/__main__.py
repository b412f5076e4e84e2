"""``python -m benchmarks``: run every benchmark and print its table."""
from .run_all import main

main()
