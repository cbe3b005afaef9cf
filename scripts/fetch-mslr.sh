#!/usr/bin/env bash
# Fetch the MSLR-WEB Fold1 sample (the first 5,000 lines of train.txt and
# test.txt) on a machine without ../shared/data. The files ship inside the
# source package of rankeval 0.8.2 on PyPI; this takes them from there and
# checks their SHA-256 sums.
#
# Usage: scripts/fetch-mslr.sh [DEST]      (default DEST: data/mslr)
# Needs: pip (python3 -m pip), tar, sha256sum.
set -euo pipefail

dest=${1:-data/mslr}
version=0.8.2
inner=rankeval-$version/rankeval/test/data
files=(msn1.fold1.train.5k.txt msn1.fold1.test.5k.txt)
declare -A sums=(
    [msn1.fold1.train.5k.txt]=6d1721de961a35fbaef7085dc5b41e2940f0ddb04bab5f7a8566cf7db4158fa6
    [msn1.fold1.test.5k.txt]=13d3c638edd23e482c38f4316c2680c938c2eaedbe096970ab30a48e364463d3
)

die() { echo "fetch-mslr: $*" >&2; exit 1; }
sum_ok() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }

all_ok=1
for f in "${files[@]}"; do
    sum_ok "$dest/$f" "${sums[$f]}" || all_ok=0
done
if (( all_ok )); then
    echo "fetch-mslr: $dest already holds both files with the right sums"
    exit 0
fi

if command -v pip >/dev/null 2>&1; then pip=(pip); else pip=(python3 -m pip); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The source tarball holds the data (rankeval 0.8.2 has no wheels anyway).
# `--no-binary rankeval`, not `--no-binary :all:`: pip prepares the sdist's
# metadata in a build environment, and `:all:` would also build that
# environment's numpy, scipy and Cython from source (far over ten minutes).
if ! "${pip[@]}" download --quiet --no-deps --no-binary rankeval "rankeval==$version" -d "$tmp"; then
    echo "fetch-mslr: source download failed, retrying without --no-binary" >&2
    "${pip[@]}" download --quiet --no-deps "rankeval==$version" -d "$tmp" ||
        die "pip download rankeval==$version failed"
fi

shopt -s nullglob
archives=("$tmp"/rankeval-"$version".tar.gz)
(( ${#archives[@]} == 1 )) ||
    die "no rankeval-$version.tar.gz in the download (got: $(ls "$tmp"))"

mkdir -p "$dest"
for f in "${files[@]}"; do
    tar -xzf "${archives[0]}" -C "$tmp" "$inner/$f" ||
        die "$inner/$f not found in ${archives[0]##*/}"
    got=$(sha256sum "$tmp/$inner/$f" | cut -d' ' -f1)
    [[ $got == "${sums[$f]}" ]] ||
        die "SHA-256 mismatch for $f: expected ${sums[$f]}, got $got"
    mv -f "$tmp/$inner/$f" "$dest/$f"
    echo "fetch-mslr: $dest/$f ok"
done
