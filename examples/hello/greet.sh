#!/usr/bin/env bash
# Says hello a few times, so there is a log to watch.
set -euo pipefail
for i in 1 2 3; do
  echo "hello, $1 ($i of 3)"
done
