#!/usr/bin/env bash
# Drive a running `humanloop-mock serve --isolate-keys` with nothing but curl:
# load a spec, script an answer, inject a 429, read and count the journal, reset.
#
#   examples/admin/walkthrough.sh http://127.0.0.1:8000 my-key setup   # spec + script + fault
#   examples/admin/walkthrough.sh http://127.0.0.1:8000 my-key count   # prints: <total chat calls>
#   examples/admin/walkthrough.sh http://127.0.0.1:8000 my-key reset
#
# The key picks the tenant (with --isolate-keys), so two keys never see each other's setup.
set -euo pipefail
root=${1:?server root, e.g. http://127.0.0.1:8000}
key=${2:?X-API-KEY of the tenant}
step=${3:-setup}
admin=(curl -sS --fail-with-body -H "X-API-KEY: $key" -H 'Content-Type: application/json')

case "$step" in
  setup)
    # The spec: the same JSON a config file holds. PUT replaces the tenant's base spec and resets to it.
    "${admin[@]}" -X PUT "$root/__admin/spec" -d '{
      "projects": [{"id": "pr_shop", "name": "shop", "experiments": [{
        "id": "exp_support", "name": "support",
        "configs": [{"id": "config_a", "model": "gpt-4o", "weight": 1}]}]}]
    }'
    echo
    # A scripted answer for messages that mention "refund".
    "${admin[@]}" -X POST "$root/__admin/scripts" -d '{
      "match": {"experiment_id": "exp_support", "message": "refund"},
      "answer": {"output": "Your refund is on its way."}, "times": null
    }'
    echo
    # The first chat call is refused with 429 and Retry-After: 1.
    "${admin[@]}" -X POST "$root/__admin/faults" -d '{"match": {"call": 1}, "status": 429, "retry_after": 1}'
    echo
    ;;
  count)
    "${admin[@]}" "$root/__admin/requests?path=/v4/chat-experiment&limit=0" | sed -E 's/.*"total":([0-9]+).*/\1/'
    echo  # the answer has no final newline, so neither has sed's line
    ;;
  journal)
    "${admin[@]}" "$root/__admin/requests?experiment_id=exp_support"
    echo
    ;;
  reset)
    "${admin[@]}" -X POST "$root/__admin/reset"
    echo
    ;;
  *)
    echo "unknown step $step (setup, count, journal, reset)" >&2
    exit 2
    ;;
esac
