"""Training: pipelines from tables, the demo models, their plots, and the command line."""
