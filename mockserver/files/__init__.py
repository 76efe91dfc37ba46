"""Reading the documents a person names (a config file, a cassette, a file to import): a regular file of
bounded size in UTF-8 (`textfile`), YAML without code or surprises (`safe_yaml`), and data that is plain,
bounded JSON-like values (`plaindata`). It imports nothing else of `mockserver`, so the recording package
may use it."""
