"""The worlds a server keeps: tenants, each world's state, journal, memo tables and budget account, and
work that takes turns."""
