#!/usr/bin/env bash
# Sends a signed tool-calls webhook to a running gateway, signed the platform's way:
# HMAC-SHA256(secret, "<unix seconds>.<raw body>") as hex, in X-Webhook-Signature: sha256=<hex>.
# Usage: bash examples/send-tool-call.sh [URL]   (env HMS_WEBHOOK_SECRET, default the demo secret)
set -euo pipefail
url="${1:-http://127.0.0.1:8080/webhook}"
secret="${HMS_WEBHOOK_SECRET:-dev-secret-change-me}"
body='{"message":{"type":"tool-calls","call":{"id":"demo-call-1"},"phone_number":{"number":"+31850835037"},"tool_call_list":[{"id":"tc_1","type":"function","function":{"name":"lookup_contact","arguments":{"query":"John"}}},{"id":"tc_2","type":"function","function":{"name":"order_status","arguments":{"order_id":"A-1001"}}},{"id":"tc_3","type":"function","function":{"name":"book_appointment","arguments":{"date":"2026-12-01"}}}]}}'
ts=$(date +%s)
sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.*= //')
curl -sS "$url" \
  -H 'content-type: application/json' \
  -H 'x-webhook-event: tool-calls' \
  -H "x-webhook-timestamp: $ts" \
  -H "x-webhook-signature: sha256=$sig" \
  --data-binary "$body"
echo
