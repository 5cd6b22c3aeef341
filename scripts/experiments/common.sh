# Sourced by the experiment scripts: run from the repository root with the CLI and a JSON compactor.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[1]}")/../.."
cli="node dist/cli/main.js"
compact="node -e process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0,'utf8'))))"
