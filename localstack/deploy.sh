#!/usr/bin/env bash
# Creates the database secret (RDS JSON shape, host "postgres" on the compose network) and deploys the stack
# with localstack/pgsip.localstack.json through cdklocal.
set -euo pipefail
source "$(dirname "$0")/env.sh"
SECRET='{"engine":"postgres","host":"postgres","port":5432,"dbname":"shop","username":"pgsip","password":"pgsip-local"}'
# LocalStack names the secret's ARN itself; the config holds a complete ARN, so create it and rewrite the config.
ARN=$(aws secretsmanager describe-secret --secret-id pgsip/local --query ARN --output text 2>/dev/null \
  || aws secretsmanager create-secret --name pgsip/local --secret-string "$SECRET" --query ARN --output text)
CONFIG="$ROOT/localstack/.pgsip.localstack.generated.json"
node -e 'const c=require(process.argv[1]); c.database.secretArn=process.argv[2]; require("fs").writeFileSync(process.argv[3], JSON.stringify(c,null,2))' \
  "$ROOT/localstack/pgsip.localstack.json" "$ARN" "$CONFIG"
cd "$ROOT"
$CDKLOCAL deploy --require-approval never -c config="$CONFIG" --outputs-file localstack/outputs.json
