"""The machinery every model family shares: the recursion (process), the one simulation loop
(engine) and its kernel contract, addressable random streams, results and their statistics, run
directories, progress, plots and command-line plumbing. Families live in sibling packages."""
