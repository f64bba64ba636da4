"""Model backends for the pipeline stages; each module imports its heavy library only when set up."""
