#!/usr/bin/env bash
# Runs each fuzz target for a bounded time on a working copy of its seed corpus, and fails,
# naming the target and the crash artifact, when any target finds a crash, a timeout or an
# out-of-memory input.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]   (default: 30 s each, every target)
#
# Uses `cargo +nightly fuzz` when a nightly toolchain is installed; otherwise (or with
# FUZZ_TOOLCHAIN=stable) the stable toolchain with RUSTC_BOOTSTRAP=1, AddressSanitizer when its
# runtime ships with that toolchain, else no sanitizer. The committed corpus (fuzz/corpus/<target>) is only read: new inputs go
# to fuzz/scratch/<target> (git-ignored, kept between runs), crashes to fuzz/artifacts/<target>.
set -euo pipefail
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir/.."

seconds="${1:-30}"
[[ $# -gt 0 ]] && shift
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
    echo "fuzz/run.sh: SECONDS must be a positive whole number, got '$seconds'" >&2
    exit 2
fi
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=()
    for f in "$fuzz_dir"/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

toolchain="${FUZZ_TOOLCHAIN:-}"
if [[ -z "$toolchain" ]]; then
    toolchain=stable
    if command -v rustup >/dev/null && rustup toolchain list | grep -q '^nightly'; then
        toolchain=nightly
    fi
fi
sanitizer=address
opts=(--fuzz-dir "$fuzz_dir")
if [[ "$toolchain" == nightly ]]; then
    fuzz=(cargo +nightly fuzz)
else
    # cargo-fuzz needs unstable rustc flags (-Zsanitizer, sanitizer coverage); a build of its
    # own, so it does not overwrite the nightly one.
    export RUSTC_BOOTSTRAP=1
    rustc=(rustc)
    fuzz=(cargo fuzz)
    if command -v rustup >/dev/null; then
        rustc=(rustc "+$toolchain")
        fuzz=(cargo "+$toolchain" fuzz)
    fi
    sysroot="$("${rustc[@]}" --print sysroot)"
    host="$("${rustc[@]}" -vV | sed -n 's/^host: //p')"
    if ! compgen -G "$sysroot/lib/rustlib/$host/lib/librustc-*_rt.asan.a" >/dev/null; then
        sanitizer=none
    fi
    opts+=(--target-dir "$fuzz_dir/target/$toolchain-bootstrap")
fi
opts+=(--sanitizer "$sanitizer")
echo "==> fuzzing with '${fuzz[*]}' (sanitizer: $sanitizer), ${seconds} s per target"

"${fuzz[@]}" build "${opts[@]}"

passed=0
failed=0
failures=()
for t in "${targets[@]}"; do
    work="$fuzz_dir/scratch/$t"
    mkdir -p "$work" "$fuzz_dir/artifacts/$t"
    cp -n "$fuzz_dir/corpus/$t/"* "$work/" 2>/dev/null || true
    log="$fuzz_dir/scratch/$t.log"
    echo "==> $t"
    if "${fuzz[@]}" run "${opts[@]}" "$t" "$work" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        passed=$((passed + 1))
        grep -E '^stat::number_of_executed_units|^Done ' "$log" | sed 's/^/    /' || true
    else
        failed=$((failed + 1))
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        # The panic message or sanitizer report, else the end of the log.
        if ! grep -m 2 -A 3 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' \
            "$log" | sed 's/^/    /'; then
            tail -n 20 "$log" | sed 's/^/    /'
        fi
        echo "FAILED: fuzz target $t: ${artifact:-no artifact written, see $log}"
        failures+=("$t ${artifact:+($artifact)}")
    fi
done

for f in "${failures[@]}"; do
    echo "failed: $f"
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
