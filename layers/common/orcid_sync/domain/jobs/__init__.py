"""Job runs (push, pull, token uploads): their models, ports, lifecycle, starts, schedules and queries."""
