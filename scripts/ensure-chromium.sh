#!/bin/sh
# Makes sure Debian's Chromium is installed for the browser tests (test/browser/, driven by
# playwright-core, which never downloads a browser of its own), with a font so that screenshots
# show text.
set -eu
sh "$(dirname "$0")/ensure-package.sh" /usr/bin/chromium chromium fonts-liberation
