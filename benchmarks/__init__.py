"""Speed benchmarks of cnnviz (not tests): see benchmarks/README.md."""
