#!/usr/bin/env bash
# Starts LocalStack and Postgres, waits for both, seeds a small table and bootstraps CDK in LocalStack.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT/localstack"
docker compose up -d
echo "waiting for LocalStack..."
until curl -fsS http://localhost:4566/_localstack/health >/dev/null; do sleep 2; done
until docker compose exec -T postgres pg_isready -U pgsip >/dev/null; do sleep 1; done
docker compose exec -T postgres psql -U pgsip -d shop -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE IF NOT EXISTS public.orders (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, note text);
INSERT INTO public.orders SELECT g, g * 1.25, 'order ' || g FROM generate_series(1, 10000) g ON CONFLICT DO NOTHING;
SQL
cd "$ROOT"
$CDKLOCAL bootstrap aws://000000000000/us-east-1
