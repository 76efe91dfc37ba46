"""The API's routes (`api.py` is the table), one module per resource; each handler takes the `Request` and
returns how its answer goes out: parse → the world's state or the pipeline → a `Delivery`."""
