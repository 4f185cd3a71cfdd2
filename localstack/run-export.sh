#!/usr/bin/env bash
# Starts one export of public.orders on the deployed state machine, follows it, and lists what it wrote.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
SM=$(node -e 'console.log(require("./localstack/outputs.json").PgsipLocal.StateMachineArn)')
BUCKET=$(node -e 'console.log(require("./localstack/outputs.json").PgsipLocal.BucketName)')
node bin/pgsip.js start --state-machine "$SM" --tables public.orders --shards 2 --interval 2
aws s3 ls --recursive "s3://$BUCKET/exports/public/orders/"
