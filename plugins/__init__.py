"""ecamp-bench's in-tree plugins, installed as the import package ecamp_bench_plugins."""
