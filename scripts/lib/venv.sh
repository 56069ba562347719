# Sourced by scripts/demo and scripts/test: make .venv with Python >= 3.11 and install
# the project into it with the extras given as arguments. Idempotent and quiet.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$ROOT/.venv"

_find_python() {
    for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        # (quietly: a version manager's shim may exist for a version that is not active)
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
            2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "stream-al needs Python 3.11 or newer: install it (e.g. apt-get install python3) or set PYTHON=/path/to/python3.11" >&2
    return 1
}

_installed_with() { # extras: a stamp newer than pyproject.toml names all of them
    local wanted="$1" stamp have extra ok
    for stamp in "$VENV"/.installed-*; do
        [ -f "$stamp" ] && [ ! "$ROOT/pyproject.toml" -nt "$stamp" ] || continue
        have=",${stamp##*/.installed-},"
        ok=1
        for extra in ${wanted//,/ }; do
            case "$have" in *",$extra,"*) ;; *) ok=0 ;; esac
        done
        [ "$ok" = 1 ] && return 0
    done
    return 1
}

ensure_venv() {
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        python=$(_find_python)
        if ! "$python" -m venv "$VENV" >/dev/null 2>&1; then
            rm -rf "$VENV"
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
                echo "installing python3-venv (Debian's venv support) ..." >&2
                apt-get install -y -q python3-venv >/dev/null
                "$python" -m venv "$VENV"
            else
                echo "cannot create a virtual environment: install python3-venv (apt-get install python3-venv) and retry" >&2
                return 1
            fi
        fi
    fi
    # Reinstall only when the project's metadata changed since the last install with these
    # extras or more (scripts/test's test,plot covers scripts/setup's plot).
    local stamp="$VENV/.installed-$extras"
    if _installed_with "$extras"; then
        return 0
    fi
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "installing stream-al[$extras] into .venv ..." >&2
        # pip's and setuptools' chatter goes to a log, shown only when the install fails.
        local log="$VENV/install.log"
        if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip &&
            "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[$extras]"; \
            } >"$log" 2>&1; then
            cat "$log" >&2
            echo "installing stream-al failed (log above, also in $log)" >&2
            return 1
        fi
        touch "$stamp"
    fi
}
