"""End-to-end tests: `kubectl apply` to `kubectl get`, pods run as local processes."""
