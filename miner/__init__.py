"""outage-miner: notice online-service outages from what users post."""
