"""One request, one way through: parse → resolve → draw → render → generate → respond → stream.

Each step is a plain function of its inputs and the seed, so it can be tested alone, and the JSON
answer and the stream are cut from the same result.
"""
