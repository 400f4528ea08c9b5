#!/usr/bin/env bash
# Exit 1 with one clear sentence when `$PYTHON` (python3 by default) cannot import Odoo 19.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check_odoo
