#!/usr/bin/env bash
# Prints the first fenced code block of one language in a guide: what a new user tries first.
# Usage: first_example.sh GUIDE.md LANGUAGE   (LANGUAGE as written after the fence: python, js, lua, csharp)
set -euo pipefail
doc=$1 lang=$2
block=$(awk -v fence="\`\`\`$lang" '$0 == fence { f = 1; next } f && /^```$/ { exit } f' "$doc")
test -n "$block" || { echo "no \`\`\`$lang block in $doc" >&2; exit 1; }
printf '%s\n' "$block"
