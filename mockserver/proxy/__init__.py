"""Proxy mode (`serve --upstream URL`) and what runs beside every answer: forwarding, checking,
recording and replaying.

- `forward`: sends a request on to the upstream and hands back its answer as it arrives (a 502 in the
  upstream error shape when the upstream cannot be reached);
- `checking`: judges every exchange with the checker's per-answer checks off the client's path, and keeps
  the violations grouped by check;
- `outputs`: the report (`--report`, JSON), the JUnit file (`--junit`) and the summary line at shutdown;
- `taping`: records an exchange into a cassette as it goes out, and answers from a cassette on replay.
"""
