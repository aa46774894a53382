#!/usr/bin/env bash
# Fuzzes the payload parsers (src/jobs/features/payload.rs) with cargo-fuzz / libFuzzer for
# FUZZ_SECONDS (default 60). The seed corpus in fuzz/corpus/payload stays as it is:
# what the fuzzer finds goes to fuzz/work-corpus, crashes to fuzz/artifacts/payload.
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address). On a machine with
# only the stable toolchain, RUSTC_BOOTSTRAP=1 lets stable rustc accept them; set
# FUZZ_TOOLCHAIN=nightly to use a nightly toolchain instead.
#
# Cost on a 2-core machine: installing cargo-fuzz ~75 s (once), the first build of the
# target ~8.5 min (the whole crate under AddressSanitizer; later builds are incremental),
# then FUZZ_SECONDS of fuzzing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

toolchain=()
if [[ -n "${FUZZ_TOOLCHAIN:-}" ]]; then
    toolchain=("+${FUZZ_TOOLCHAIN}")
else
    export RUSTC_BOOTSTRAP=1
fi

mkdir -p work-corpus
exec cargo "${toolchain[@]}" fuzz run payload work-corpus corpus/payload -- \
    -max_total_time="${FUZZ_SECONDS:-60}" -max_len=65536 -timeout=10 -rss_limit_mb=2048
