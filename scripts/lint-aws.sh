#!/usr/bin/env bash
# Lint the AWS deployment description offline:
#   cfn-lint template.yaml          (the template, SAM transform included)
#   sam validate --lint             (SAM's own translation + cfn-lint)
#   asl-validator                   (the state machines in statemachine/render.asl.json
#                                    and statemachine/batch.asl.json, which neither of
#                                    the above reads)
#
# usage: scripts/lint-aws.sh [all|cfn-lint|sam|asl|install]
#
# Tools are installed on first use and reused afterwards:
#   .venv-sam/            aws-sam-cli (brings cfn-lint) in its OWN virtualenv: its botocore
#                         pin conflicts with moto's, so it must never share the test venv
#                         (override with HFACTION_SAM_VENV)
#   .cache/asl-validator/ the npm package asl-validator (override with
#                         HFACTION_ASL_VALIDATOR_DIR)
#
# Exit status: 0 clean, 1 a linter found problems, 3 a tool could not be installed (the
# message names it; the pytest wrapper skips on 3 unless HFACTION_REQUIRE_TOOLS=1).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

SAM_CLI_VERSION="1.170.0"
ASL_VALIDATOR_VERSION="4.0.0"
sam_venv="${HFACTION_SAM_VENV:-$repo/.venv-sam}"
asl_dir="${HFACTION_ASL_VALIDATOR_DIR:-$repo/.cache/asl-validator}"
template="$repo/template.yaml"
# Each state machine with the OutputPrefixes its template resource substitutes (the
# render one may write previews too; a batch writes renders/ only).
asl_machines=("render.asl.json renders/,previews/" "batch.asl.json renders/")
what="${1:-all}"

# Offline: nothing here may call AWS. sam validate needs a region, and must not phone home.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
export SAM_CLI_TELEMETRY=0

cannot_install() { echo "lint-aws: cannot install $1: $2" >&2; exit 3; }
elapsed() { echo "lint-aws: $1 took $((SECONDS - $2)) s" >&2; }

# One installer at a time (pytest runs a test per linter; other scripts may share .venv-sam).
lock_installs() {
  [[ -n "${_lint_aws_locked:-}" ]] && return 0
  mkdir -p "$repo/.cache"
  exec 9>"$repo/.cache/lint-aws.lock"
  command -v flock >/dev/null && flock 9
  _lint_aws_locked=1
}

install_sam() {
  local marker="$sam_venv/.hfaction-sam-$SAM_CLI_VERSION"
  lock_installs
  [[ -f "$marker" && -x "$sam_venv/bin/sam" && -x "$sam_venv/bin/cfn-lint" ]] && return 0
  local start=$SECONDS python
  python="$(command -v python3 || true)"
  [[ -n "$python" ]] || cannot_install aws-sam-cli "no python3 on PATH"
  echo "lint-aws: installing aws-sam-cli $SAM_CLI_VERSION into $sam_venv (once)" >&2
  rm -rf "$sam_venv"
  "$python" -m venv "$sam_venv" >&2 || cannot_install aws-sam-cli "python3 -m venv failed"
  "$sam_venv/bin/python" -m pip install -q --disable-pip-version-check \
      "aws-sam-cli==$SAM_CLI_VERSION" >&2 \
    || { rm -rf "$sam_venv"; cannot_install aws-sam-cli "pip install aws-sam-cli==$SAM_CLI_VERSION failed"; }
  touch "$marker"
  elapsed "installing aws-sam-cli" "$start"
}

install_asl() {
  local bin="$asl_dir/node_modules/.bin/asl-validator"
  local marker="$asl_dir/.hfaction-asl-$ASL_VALIDATOR_VERSION"
  lock_installs
  [[ -f "$marker" && -x "$bin" ]] && return 0
  command -v npm >/dev/null || cannot_install asl-validator "npm is not installed (apt-get install npm)"
  local start=$SECONDS
  echo "lint-aws: installing asl-validator $ASL_VALIDATOR_VERSION into $asl_dir (once)" >&2
  rm -rf "$asl_dir"
  mkdir -p "$asl_dir"
  npm install --prefix "$asl_dir" --no-audit --no-fund --no-save --loglevel=error \
      "asl-validator@$ASL_VALIDATOR_VERSION" >&2 \
    || { rm -rf "$asl_dir"; cannot_install asl-validator "npm install asl-validator@$ASL_VALIDATOR_VERSION failed"; }
  touch "$marker"
  elapsed "installing asl-validator" "$start"
}

# Each run_* returns 0 when its linter is clean and 1 when it reports problems (whatever
# the linter's own exit code: cfn-lint's is a bit mask), so 3 stays "could not install".
run_cfn_lint() {
  install_sam
  local start=$SECONDS status=0
  echo "lint-aws: cfn-lint template.yaml" >&2
  "$sam_venv/bin/cfn-lint" --format parseable -- "$template" || status=1
  elapsed "cfn-lint" "$start"
  return "$status"
}

run_sam() {
  install_sam
  local start=$SECONDS status=0
  echo "lint-aws: sam validate --lint" >&2
  "$sam_venv/bin/sam" validate --lint --template-file "$template" \
      --region "$AWS_DEFAULT_REGION" || status=1
  elapsed "sam validate --lint" "$start"
  return "$status"
}

run_asl() {
  install_asl
  local start=$SECONDS status=0 machine
  for machine in "${asl_machines[@]}"; do
    # shellcheck disable=SC2086  # "file prefixes": two words on purpose
    run_one_asl $machine || status=1
  done
  elapsed "asl-validator" "$start"
  return "$status"
}

run_one_asl() {
  local name="$1" prefixes="$2" filled
  local asl="$repo/statemachine/$name"
  filled="$(mktemp --suffix=.asl.json)"
  # The ASL is plain JSON with ${...} placeholders that CloudFormation fills from the
  # template's DefinitionSubstitutions; validate it with realistic values in them (the
  # pytest suite checks that the placeholders and the template's names agree).
  node - "$asl" "$filled" "$prefixes" <<'JS' || { rm -f "$filled"; return 1; }
const fs = require("fs");
const [source, target, prefixes] = process.argv.slice(2);
const samples = {
  RenderFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:hfaction-render",
  RenderBucketName: "hfaction-123456789012-us-east-1",
  MaxConcurrency: "8",
  OutputPrefixes: prefixes,
};
let unknown = [];
const text = fs.readFileSync(source, "utf8").replace(/\$\{([A-Za-z0-9_]+)\}/g, (all, name) => {
  if (!(name in samples)) unknown.push(name);
  return samples[name] ?? all;
});
if (unknown.length) {
  console.error(`lint-aws: no sample value for \${${unknown.join("}, ${")}} in scripts/lint-aws.sh`);
  process.exit(1);
}
JSON.parse(text);
fs.writeFileSync(target, text);
JS
  echo "lint-aws: asl-validator statemachine/$name (OutputPrefixes $prefixes)" >&2
  local status=0
  "$asl_dir/node_modules/.bin/asl-validator" --json-path "$filled" || status=1
  rm -f "$filled"
  return "$status"
}

status=0
case "$what" in
  install) install_sam; install_asl ;;
  cfn-lint) run_cfn_lint || status=1 ;;
  sam) run_sam || status=1 ;;
  asl) run_asl || status=1 ;;
  all)
    run_cfn_lint || status=1
    run_sam || status=1
    run_asl || status=1 ;;
  *) echo "usage: scripts/lint-aws.sh [all|cfn-lint|sam|asl|install]" >&2; exit 2 ;;
esac
exit "$status"
