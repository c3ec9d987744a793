#!/usr/bin/env bash
# Create .venv-labelstudio/: a real Label Studio for the integration tests (tests/integrations),
# kept apart from the main environment (Label Studio pins Django, its own SDK and many more).
#
# The venv is *isolated* (no --system-site-packages): nothing of the main environment leaks in
# and nothing of Label Studio's leaks out. It is made with the base interpreter even when this
# script runs inside another venv (`sys._base_executable`), so it never sees that venv's
# packages either (a --system-site-packages venv made from inside a venv sees the *base*
# interpreter's site-packages, not the outer venv's: the trap benchmarks/setup_peers.sh avoids
# by running from the main interpreter).
#
# Besides the package it prepares `template-data/`: a Label Studio data directory whose SQLite
# database has every migration applied (about 30 s of work on 2 cores), which the test fixture
# copies for each session, so Label Studio starts in a few seconds instead of migrating anew.
#
# Idempotent: a marker file records the pinned version after a successful install, smoke test
# and template; when it matches, the script returns at once.
#
# Usage (from anywhere):  bash .ci/setup_servers.sh
# Then:                   tests/integrations/conftest.py starts .venv-labelstudio/bin/label-studio
set -euo pipefail

LABEL_STUDIO_VERSION="1.23.0"

# tests/report open the dashboard in a real headless browser: Debian's chromium (Playwright
# drives it through executable_path; `playwright install` needs its CDN). Skipped when present.
if [[ ! -x /usr/bin/chromium ]]; then
    echo "setup_servers: installing Debian's chromium ..." >&2
    sudo_=""; [[ "$(id -u)" != 0 ]] && sudo_="sudo"
    $sudo_ apt-get install -y --no-install-recommends chromium >/dev/null \
        || { $sudo_ apt-get update -qq && $sudo_ apt-get install -y --no-install-recommends chromium >/dev/null; }
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LABEL_STUDIO_VENV:-$root/.venv-labelstudio}"  # LABEL_STUDIO_VENV: another location
python="${PYTHON:-python3}"
marker="$venv/.trackannot-installed"
want="label-studio==$LABEL_STUDIO_VERSION template-1"

if [[ -f "$marker" && "$(cat "$marker")" == "$want" && -x "$venv/bin/label-studio" ]]; then
    exit 0
fi

echo "setup_servers: installing label-studio==$LABEL_STUDIO_VERSION into $venv ..." >&2
started=$SECONDS
if [[ ! -x "$venv/bin/python" ]]; then
    base="$("$python" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"
    "$base" -m venv "$venv"
fi
rm -f "$marker"
log="$venv/setup.log"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
        "label-studio==$LABEL_STUDIO_VERSION" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi

# Smoke test: the package imports and is the pinned version.
"$venv/bin/python" - "$LABEL_STUDIO_VERSION" <<'PY'
import sys
import label_studio
if label_studio.__version__ != sys.argv[1]:
    sys.exit(f"label-studio {label_studio.__version__} installed, {sys.argv[1]} expected")
PY

# The migrated template: `label-studio user` applies the migrations, then only looks a user up.
# Offline and quiet: no version check against PyPI, no Sentry, no analytics; LABEL_STUDIO_CI=false
# because Label Studio reads CI=true (set where .ci/run runs) as its own development CI mode.
template="$venv/template-data"
rm -rf "$template" "$template.partial"
mkdir -p "$template.partial"
(
    cd "$template.partial"
    LABEL_STUDIO_BASE_DATA_DIR="$template.partial" LATEST_VERSION_CHECK=false LABEL_STUDIO_CI=false \
    SENTRY_DSN= FRONTEND_SENTRY_DSN= COLLECT_ANALYTICS=false \
        "$venv/bin/label-studio" user --username template@localhost >>"$log" 2>&1
) || { cat "$log" >&2; exit 1; }
[[ -s "$template.partial/label_studio.sqlite3" ]] || { cat "$log" >&2; exit 1; }
mv "$template.partial" "$template"

echo "$want" > "$marker"
echo "setup_servers: label-studio==$LABEL_STUDIO_VERSION ready in $venv ($((SECONDS - started)) s)" >&2
