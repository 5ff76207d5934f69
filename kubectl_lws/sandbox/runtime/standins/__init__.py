"""Stand-in programs the sandbox puts in simulated containers (run as scripts, never imported)."""
