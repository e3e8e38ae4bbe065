"""Pure builders: spec in, Kubernetes object dicts out. No I/O; unit-tested on plain dicts."""
