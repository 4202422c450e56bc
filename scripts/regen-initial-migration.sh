#!/usr/bin/env bash
# Regenerate migration 0001 from the models. Only while 0001 is the sole migration and no
# database outside development exists (the first development session); afterwards add
# new revisions with `alembic revision --autogenerate` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f src/zvans/store/migrations/versions/0001_initial.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from zvans.store.migrate import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/gen.db")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
PY
mv src/zvans/store/migrations/versions/0001_*.py src/zvans/store/migrations/versions/0001_initial.py
.venv/bin/ruff format -q src/zvans/store/migrations/versions/0001_initial.py
.venv/bin/ruff check -q --fix src/zvans/store/migrations/versions/0001_initial.py || true
rm -rf "$tmp"
echo "regenerated src/zvans/store/migrations/versions/0001_initial.py"
