"""A config file whose one experiment (`exp_timed`) answers with a timing profile: streams that take a
while, for recording their pace and replaying it."""

from __future__ import annotations

TIMED_CONFIG = """
projects:
  - name: timed
    id: pr_timed
    experiments:
      - name: timed
        id: exp_timed
        configs:
          - id: config_timed
            model: gpt-4o
            max_tokens: 10
            timing:
              first_event: {median: 0.12}
              between_events: {median: 0.03, sigma: 0.3, max: 0.08}
"""
