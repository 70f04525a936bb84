"""Video data: the dataset layout, video I/O, the synthetic generator, ingest and shards."""
