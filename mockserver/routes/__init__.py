"""HTTP routes, one module per resource; each handler is route → parse → pipeline → serialise."""
