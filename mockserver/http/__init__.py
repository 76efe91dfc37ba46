"""Talking HTTP: the server and its connections, the Host check, requests answered before the app, the
access log, and how each request is read, journaled and answered."""
