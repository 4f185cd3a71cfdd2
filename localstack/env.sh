# Sourced by the scripts: point every AWS client (CDK, AWS CLI, the pgsip CLI) at LocalStack.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=http://localhost.localstack.cloud:4566
export CDK_DISABLE_VERSION_CHECK=1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CDKLOCAL="npx --yes aws-cdk-local@3"
