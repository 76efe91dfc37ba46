"""One request, one way through: parse → resolve → draw → render → generate → respond → stream.

Resolve, draw and log ids change state, so they run as one `MockState.start_chat` transaction (the
draw itself is `mockserver.spec.draws`, a pure function); everything else here is a plain function.

Each step is a plain function of its inputs and the seed, so it can be tested alone, and the JSON
answer and the stream are cut from the same result.
"""
