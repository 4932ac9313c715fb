"""`python -m miner COMMAND ...`: the `miner` command without its console script."""

from miner.cli import main

main()
