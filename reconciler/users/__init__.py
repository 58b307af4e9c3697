"""User behaviour from request logs: identity, history, cohorts, load models (issue 15)."""
