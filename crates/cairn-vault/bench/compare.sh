#!/usr/bin/env bash
# Whole-process comparison of `cairn vault backup-dir/restore-dir` with restic and borg, same corpus, same run.
#
#   crates/cairn-vault/bench/compare.sh [WORKDIR] [SCALE]
#
# Needs: a release build of cairn (cargo build --release -p cairn), restic and borg (apt-get install -y restic
# borgbackup), python3, GNU time (/usr/bin/time). Prints a Markdown table; raw figures go to WORKDIR/results.tsv.
# Settings, as comparable as each tool allows:
#   cairn : zstd level 1 (init --zstd-level 1), XChaCha20-Poly1305, Argon2id passphrase
#   restic: repository v2, --compression auto (zstd "fastest"), AES-256-CTR + Poly1305
#   borg  : -e repokey-blake2 (AES-256-CTR + BLAKE2b), --compression zstd,1
set -euo pipefail
work=${1:-/var/tmp/cairn-vault-bench}
scale=${2:-1.0}
here=$(cd "$(dirname "$0")" && pwd)
cairn=${CAIRN_BIN:-${CARGO_TARGET_DIR:-$here/../../../target}/release/cairn}
[ -x "$cairn" ] || { echo "build first: cargo build --release -p cairn ($cairn missing)" >&2; exit 1; }
command -v restic >/dev/null && command -v borg >/dev/null || { echo "apt-get install -y restic borgbackup" >&2; exit 1; }

rm -rf "$work"; mkdir -p "$work"
corpus=$work/corpus
echo "generating corpus (scale $scale) ..." >&2
python3 "$here/gen_corpus.py" "$corpus" --scale "$scale"
du -sb "$corpus" | awk '{printf "corpus: %.0f MB\n", $1/1e6}' >&2
export CAIRN_VAULT_PASSPHRASE=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export RESTIC_CACHE_DIR=$work/restic-cache BORG_BASE_DIR=$work/borg-base
results=$work/results.tsv
: > "$results"

# measure TOOL PHASE CMD...: wall seconds and peak RSS (KiB), after dropping nothing (warm page cache for all).
measure() {
  local tool=$1 phase=$2; shift 2
  sync
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" > "$work/$tool-$phase.out" 2>&1 || { cat "$work/$tool-$phase.out" >&2; exit 1; }
  read -r secs rss < "$work/t"
  printf '%s\t%s\t%s\t%s\n' "$tool" "$phase" "$secs" "$rss" >> "$results"
  echo "$tool $phase: ${secs}s, peak RSS $((rss / 1024)) MiB" >&2
}
size() { du -sb "$1" | cut -f1; }

run_tool() {
  local tool=$1 phase=$2
  case $tool in
    cairn)
      case $phase in
        init) "$cairn" vault init --repo "$work/cairn-repo" --zstd-level 1 >/dev/null ;;
        backup*) measure cairn "$phase" "$cairn" vault backup-dir --repo "$work/cairn-repo" "$corpus" ;;
        restore) measure cairn restore "$cairn" vault restore-dir --repo "$work/cairn-repo" latest "$work/cairn-out" ;;
      esac ;;
    restic)
      case $phase in
        init) restic init --repository-version 2 -r "$work/restic-repo" >/dev/null ;;
        backup*) measure restic "$phase" restic -r "$work/restic-repo" backup --compression auto "$corpus" ;;
        restore) measure restic restore restic -r "$work/restic-repo" restore latest --target "$work/restic-out" ;;
      esac ;;
    borg)
      case $phase in
        init) borg init -e repokey-blake2 "$work/borg-repo" >/dev/null 2>&1 ;;
        backup1) measure borg backup1 borg create --compression zstd,1 "$work/borg-repo::first" "$corpus" ;;
        backup2) measure borg backup2 borg create --compression zstd,1 "$work/borg-repo::second" "$corpus" ;;
        restore) mkdir -p "$work/borg-out"; (cd "$work/borg-out" && measure borg restore borg extract "$work/borg-repo::second") ;;
      esac ;;
  esac
}

tools="cairn restic borg"
for t in $tools; do run_tool "$t" init; done
for t in $tools; do run_tool "$t" backup1; done
for t in $tools; do printf '%s\tsize1\t%s\t0\n' "$t" "$(size "$work/$t-repo")" >> "$results"; done
python3 "$here/gen_corpus.py" "$corpus" --mutate 0.01 >&2
for t in $tools; do run_tool "$t" backup2; done
for t in $tools; do printf '%s\tsize2\t%s\t0\n' "$t" "$(size "$work/$t-repo")" >> "$results"; done
for t in $tools; do run_tool "$t" restore; done
# Restores must be exact.
diff -r "$corpus" "$work/cairn-out" >/dev/null && echo "cairn restore: identical" >&2
diff -r "$corpus" "$work/restic-out${corpus}" >/dev/null && echo "restic restore: identical" >&2

python3 - "$results" <<'PY'
import sys, collections
r = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    tool, phase, a, b = line.split("\t")
    r[tool][phase] = (float(a), int(b))
def row(name, key, idx, fmt):
    base = r["restic"][key][idx]
    cells = []
    for t in ["cairn", "restic", "borg"]:
        v = r[t][key][idx]
        cells.append(f"{fmt(v)} ({v / base:.2f}×)" if base else fmt(v))
    print(f"| {name} | " + " | ".join(cells) + " |")
print("| phase | cairn | restic | borg |")
print("|---|---|---|---|")
sec = lambda v: f"{v:.1f} s"
mib = lambda v: f"{v / 1024:.0f} MiB"
mb = lambda v: f"{v / 1e6:.0f} MB"
row("first backup, time", "backup1", 0, sec)
row("first backup, peak RSS", "backup1", 1, mib)
row("repository size after first", "size1", 0, mb)
row("incremental (1% changed), time", "backup2", 0, sec)
row("incremental, peak RSS", "backup2", 1, mib)
row("repository growth, incremental", "size2", 0, mb) if False else None
for t in ["cairn", "restic", "borg"]:
    r[t]["growth"] = (r[t]["size2"][0] - r[t]["size1"][0], 0)
row("bytes added by incremental", "growth", 0, mb)
row("restore, time", "restore", 0, sec)
row("restore, peak RSS", "restore", 1, mib)
PY
