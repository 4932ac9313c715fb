"""Where posts come from: files on disk (`files`, `records`) and live APIs (`miner.collect`)."""
