#!/bin/sh
# Runs a validator, or skips (exit 77, meson's skip code) when it is not
# installed, so a machine without desktop-file-utils/appstream/gettext still
# passes the rest of the suite.
tool="$1"
shift
if ! command -v "$tool" >/dev/null 2>&1; then
  echo "SKIP: $tool is not installed"
  exit 77
fi
exec "$tool" "$@"
